package cgroups

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func mustRules(t *testing.T, devs []specs.LinuxDeviceCgroup) []deviceRule {
	t.Helper()
	rules, err := deviceRules(devs)
	if err != nil {
		t.Fatal(err)
	}
	return rules
}

// TestDeviceProgramGolden compares the program for a containerd-like rule
// set with one assembled by hand from the kernel's encoding: opcode,
// src<<4|dst, offset, immediate.
func TestDeviceProgramGolden(t *testing.T) {
	if unsafe.Sizeof(bpfInsn{}) != 8 {
		t.Fatalf("bpfInsn is %d bytes, not struct bpf_insn's 8", unsafe.Sizeof(bpfInsn{}))
	}
	prog := deviceProgram(mustRules(t, []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		{Allow: true, Type: "c", Major: ptr(int64(1)), Minor: ptr(int64(3)), Access: "rwm"},
		{Allow: true, Type: "c", Major: ptr(int64(1)), Minor: ptr(int64(5)), Access: "r"},
		{Allow: false, Type: "b", Major: ptr(int64(8)), Access: "w"},
	}))
	want := []bpfInsn{
		{0x61, 0x12, 0, 0},      // 0: r2 = *(u32 *)(r1 + 0)  access_type
		{0x61, 0x14, 4, 0},      // 1: r4 = *(u32 *)(r1 + 4)  major
		{0x61, 0x15, 8, 0},      // 2: r5 = *(u32 *)(r1 + 8)  minor
		{0xbc, 0x23, 0, 0},      // 3: w3 = w2
		{0x54, 0x02, 0, 0xffff}, // 4: w2 &= 0xffff           type
		{0x74, 0x03, 0, 16},     // 5: w3 >>= 16              access
		// deny b 8:* w, the last rule, first
		{0x55, 0x02, 6, 1}, // 6: if r2 != block goto 13
		{0x55, 0x04, 5, 8}, // 7: if r4 != 8 goto 13
		{0xbc, 0x31, 0, 0}, // 8: w1 = w3
		{0x54, 0x01, 0, 4}, // 9: w1 &= write
		{0x15, 0x01, 2, 0}, // 10: if r1 == 0 goto 13
		{0xb4, 0x00, 0, 0}, // 11: w0 = 0
		{0x95, 0x00, 0, 0}, // 12: exit
		// allow c 1:5 r
		{0x55, 0x02, 6, 2},  // 13: if r2 != char goto 20
		{0x55, 0x04, 5, 1},  // 14: if r4 != 1 goto 20
		{0x55, 0x05, 4, 5},  // 15: if r5 != 5 goto 20
		{0x54, 0x03, 0, -3}, // 16: w3 &= ^read
		{0x55, 0x03, 2, 0},  // 17: if r3 != 0 goto 20
		{0xb4, 0x00, 0, 1},  // 18: w0 = 1
		{0x95, 0x00, 0, 0},  // 19: exit
		// allow c 1:3 rwm
		{0x55, 0x02, 4, 2}, // 20: if r2 != char goto 25
		{0x55, 0x04, 3, 1}, // 21: if r4 != 1 goto 25
		{0x55, 0x05, 2, 3}, // 22: if r5 != 3 goto 25
		{0xb4, 0x00, 0, 1}, // 23: w0 = 1
		{0x95, 0x00, 0, 0}, // 24: exit
		// deny a *:* rwm matches everything: no default block after it
		{0xb4, 0x00, 0, 0}, // 25: w0 = 0
		{0x95, 0x00, 0, 0}, // 26: exit
	}
	if !slices.Equal(prog, want) {
		t.Errorf("program differs:\n got %v\nwant %v", prog, want)
	}

	// Without rules everything is refused.
	if got := deviceProgram(nil)[6:]; !slices.Equal(got, []bpfInsn{{0xb4, 0, 0, 0}, {0x95, 0, 0, 0}}) {
		t.Errorf("empty rule set ends with %v", got)
	}
	// A wildcard allow ends the program: the rules before it are dead.
	prog = deviceProgram(mustRules(t, []specs.LinuxDeviceCgroup{
		{Allow: false, Type: "c", Access: "rwm"},
		{Allow: true, Access: "rwm"},
	}))
	if got := prog[6:]; !slices.Equal(got, []bpfInsn{{0xb4, 0, 0, 1}, {0x95, 0, 0, 0}}) {
		t.Errorf("allow-all program ends with %v", got)
	}
}

// runDeviceProgram interprets the instructions deviceProgram emits, as the
// kernel would run them on struct bpf_cgroup_dev_ctx.
func runDeviceProgram(t *testing.T, prog []bpfInsn, typ, access, major, minor uint32) int {
	t.Helper()
	ctx := [3]uint32{access<<16 | typ, major, minor}
	var reg [11]uint64
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		dst, src := in.regs&0xf, in.regs>>4
		imm := uint64(int64(in.imm))
		switch in.code {
		case unix.BPF_LDX | unix.BPF_MEM | unix.BPF_W:
			if src != r1 || in.off%4 != 0 || in.off < 0 || in.off > 8 {
				t.Fatalf("pc %d: load from r%d%+d", pc, src, in.off)
			}
			reg[dst] = uint64(ctx[in.off/4])
		case unix.BPF_ALU | unix.BPF_MOV | unix.BPF_K:
			reg[dst] = uint64(uint32(in.imm))
		case unix.BPF_ALU | unix.BPF_MOV | unix.BPF_X:
			reg[dst] = uint64(uint32(reg[src]))
		case unix.BPF_ALU | unix.BPF_AND | unix.BPF_K:
			reg[dst] = uint64(uint32(reg[dst]) & uint32(in.imm))
		case unix.BPF_ALU | unix.BPF_RSH | unix.BPF_K:
			reg[dst] = uint64(uint32(reg[dst]) >> uint32(in.imm))
		case unix.BPF_JMP | unix.BPF_JNE | unix.BPF_K:
			if reg[dst] != imm {
				pc += int(in.off)
			}
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K:
			if reg[dst] == imm {
				pc += int(in.off)
			}
		case unix.BPF_JMP | unix.BPF_EXIT:
			return int(reg[r0])
		default:
			t.Fatalf("pc %d: unexpected opcode %#x", pc, in.code)
		}
	}
	t.Fatal("ran off the end of the program")
	return -1
}

// allowedByRules is the meaning deviceProgram implements, written the
// plain way: every requested access bit is decided by the last rule that
// matches the device and names the bit, and nothing decides refusal.
func allowedByRules(rules []deviceRule, typ byte, access int32, major, minor int64) bool {
	for bit := int32(1); bit <= 4; bit <<= 1 {
		if access&bit == 0 {
			continue
		}
		allowed := false
		for _, r := range rules {
			if (r.typ == 'a' || r.typ == typ) && (r.major < 0 || r.major == major) &&
				(r.minor < 0 || r.minor == minor) && r.accessBits()&bit != 0 {
				allowed = r.allow
			}
		}
		if !allowed {
			return false
		}
	}
	return true
}

// checkStructure verifies what the kernel's verifier would: every jump
// lands inside the program and forward, the program ends with exit, and
// no instruction is unreachable.
func checkStructure(t *testing.T, prog []bpfInsn) {
	t.Helper()
	if len(prog) == 0 || prog[len(prog)-1].code != unix.BPF_JMP|unix.BPF_EXIT {
		t.Fatalf("program does not end with exit: %v", prog)
	}
	reached := make([]bool, len(prog))
	reached[0] = true
	for pc, in := range prog {
		if !reached[pc] {
			t.Fatalf("instruction %d unreachable in %v", pc, prog)
		}
		switch in.code {
		case unix.BPF_JMP | unix.BPF_EXIT:
			continue
		case unix.BPF_JMP | unix.BPF_JNE | unix.BPF_K, unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K:
			target := pc + 1 + int(in.off)
			if in.off < 0 || target >= len(prog) {
				t.Fatalf("instruction %d jumps to %d, outside 0..%d", pc, target, len(prog)-1)
			}
			reached[target] = true
		}
		if pc+1 < len(prog) {
			reached[pc+1] = true
		}
	}
}

func randomRules(rng *rand.Rand) []specs.LinuxDeviceCgroup {
	pick := func(vals ...int64) *int64 {
		v := vals[rng.IntN(len(vals))]
		if v == -2 {
			return nil
		}
		return &v
	}
	accesses := []string{"", "r", "w", "m", "rw", "rm", "wm", "rwm", "mwr"}
	types := []string{"", "a", "c", "b"}
	var out []specs.LinuxDeviceCgroup
	for range rng.IntN(8) {
		out = append(out, specs.LinuxDeviceCgroup{
			Allow:  rng.IntN(2) == 0,
			Type:   types[rng.IntN(len(types))],
			Major:  pick(-2, -1, 1, 8),
			Minor:  pick(-2, -1, 3, 5),
			Access: accesses[rng.IntN(len(accesses))],
		})
	}
	return out
}

func TestDeviceProgramMeaning(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 3000 {
		devs := randomRules(rng)
		rules := mustRules(t, devs)
		prog := deviceProgram(rules)
		checkStructure(t, prog)
		for _, typ := range []byte{'c', 'b'} {
			kernelType := uint32(unix.BPF_DEVCG_DEV_CHAR)
			if typ == 'b' {
				kernelType = unix.BPF_DEVCG_DEV_BLOCK
			}
			for _, major := range []int64{1, 8, 9} {
				for _, minor := range []int64{3, 5, 6} {
					for access := int32(1); access <= accessAll; access++ {
						got := runDeviceProgram(t, prog, kernelType, uint32(access), uint32(major), uint32(minor)) == 1
						if want := allowedByRules(rules, typ, access, major, minor); got != want {
							t.Fatalf("case %d: rules %s: %c %d:%d access %03b: program says %v, rules say %v",
								i, fmtRules(devs), typ, major, minor, access, got, want)
						}
					}
				}
			}
		}
	}
}

func fmtRules(devs []specs.LinuxDeviceCgroup) string {
	s := "["
	for _, d := range devs {
		num := func(p *int64) string {
			if p == nil {
				return "nil"
			}
			return fmt.Sprint(*p)
		}
		s += fmt.Sprintf(" {allow=%v %q %s:%s %q}", d.Allow, d.Type, num(d.Major), num(d.Minor), d.Access)
	}
	return s + " ]"
}

// TestDeviceProgramSingleBitLikeLibrary pins the cases the library's
// filter decided the same way: one access bit at a time.
func TestDeviceProgramSingleBitLikeLibrary(t *testing.T) {
	rules := mustRules(t, []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		{Allow: true, Type: "c", Major: ptr(int64(1)), Minor: ptr(int64(3)), Access: "r"},
	})
	prog := deviceProgram(rules)
	char := uint32(unix.BPF_DEVCG_DEV_CHAR)
	for _, tc := range []struct {
		access uint32
		want   int
	}{
		{unix.BPF_DEVCG_ACC_READ, 1},
		{unix.BPF_DEVCG_ACC_WRITE, 0},
		{unix.BPF_DEVCG_ACC_MKNOD, 0},
		// Read-write needs both bits allowed; the library let any
		// shared bit through.
		{unix.BPF_DEVCG_ACC_READ | unix.BPF_DEVCG_ACC_WRITE, 0},
	} {
		if got := runDeviceProgram(t, prog, char, tc.access, 1, 3); got != tc.want {
			t.Errorf("access %03b on c 1:3: %d, want %d", tc.access, got, tc.want)
		}
	}
}
