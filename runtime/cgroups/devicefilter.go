package cgroups

import (
	"golang.org/x/sys/unix"
)

// bpfInsn is the kernel's struct bpf_insn.
type bpfInsn struct {
	code uint8
	regs uint8 // destination register in the low nibble, source in the high
	off  int16
	imm  int32
}

// Registers of the device program. R1 holds the context pointer on entry
// and R0 the verdict on exit; R2 to R5 hold the request after the loads.
const (
	r0 uint8 = iota
	r1
	r2 // device type
	r3 // requested access bits that no rule has decided yet
	r4 // major
	r5 // minor
)

const accessAll = unix.BPF_DEVCG_ACC_READ | unix.BPF_DEVCG_ACC_WRITE | unix.BPF_DEVCG_ACC_MKNOD

func ldxW(dst, src uint8, off int16) bpfInsn {
	return bpfInsn{code: unix.BPF_LDX | unix.BPF_MEM | unix.BPF_W, regs: src<<4 | dst, off: off}
}

func movImm(dst uint8, imm int32) bpfInsn {
	return bpfInsn{code: unix.BPF_ALU | unix.BPF_MOV | unix.BPF_K, regs: dst, imm: imm}
}

func movReg(dst, src uint8) bpfInsn {
	return bpfInsn{code: unix.BPF_ALU | unix.BPF_MOV | unix.BPF_X, regs: src<<4 | dst}
}

func andImm(dst uint8, imm int32) bpfInsn {
	return bpfInsn{code: unix.BPF_ALU | unix.BPF_AND | unix.BPF_K, regs: dst, imm: imm}
}

func rshImm(dst uint8, imm int32) bpfInsn {
	return bpfInsn{code: unix.BPF_ALU | unix.BPF_RSH | unix.BPF_K, regs: dst, imm: imm}
}

// jneImm and jeqImm compare the whole 64-bit register with the
// sign-extended immediate; the loaded values are zero-extended 32-bit, so
// numbers above MaxInt32 never match, and no device has one.
func jneImm(dst uint8, imm int32, off int16) bpfInsn {
	return bpfInsn{code: unix.BPF_JMP | unix.BPF_JNE | unix.BPF_K, regs: dst, off: off, imm: imm}
}

func jeqImm(dst uint8, imm int32, off int16) bpfInsn {
	return bpfInsn{code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, regs: dst, off: off, imm: imm}
}

func exit() bpfInsn { return bpfInsn{code: unix.BPF_JMP | unix.BPF_EXIT} }

// deviceProgram compiles rules into a BPF_PROG_TYPE_CGROUP_DEVICE program
// (1 allows the access, 0 refuses it with EPERM).
//
// As with the library and runc, the last rule that matches decides, and
// what no rule matches is refused unless an earlier rule allows every
// access to every device, which makes allowing the default. Unlike the
// library, which let a rule match when it shared any access bit with the
// request (so "c 1:3 r" let /dev/null be opened read-write), each requested
// bit is decided by the last rule that matches the device and names that
// bit, as on v1: the request is refused as soon as one of its bits is
// denied, and allowed once every one of them is. For requests of a single
// bit, mknod or a read-only or write-only open, this is the library's
// behaviour.
//
// Rules are laid out from the last one up, each a block whose tests jump
// to the next block on a mismatch; a block with no tests always returns,
// and the rules above it cannot matter.
func deviceProgram(rules []deviceRule) []bpfInsn {
	prog := []bpfInsn{
		// struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }
		// with access_type = access << 16 | type.
		ldxW(r2, r1, 0),
		ldxW(r4, r1, 4),
		ldxW(r5, r1, 8),
		movReg(r3, r2),
		andImm(r2, 0xffff),
		rshImm(r3, 16),
	}
	for i := len(rules) - 1; i >= 0; i-- {
		block, always := ruleBlock(rules[i])
		prog = append(prog, block...)
		if always {
			return prog
		}
	}
	return append(prog, movImm(r0, 0), exit())
}

// ruleBlock compiles one rule and reports whether it matches every request.
func ruleBlock(r deviceRule) (block []bpfInsn, always bool) {
	access := r.accessBits()
	if access == 0 {
		// A rule without access decides nothing.
		return nil, false
	}
	// Indexes of the jumps to the end of the block, whose offsets are
	// known once the block is complete.
	var skips []int
	skipIf := func(in bpfInsn) {
		skips = append(skips, len(block))
		block = append(block, in)
	}
	switch r.typ {
	case 'c':
		skipIf(jneImm(r2, unix.BPF_DEVCG_DEV_CHAR, 0))
	case 'b':
		skipIf(jneImm(r2, unix.BPF_DEVCG_DEV_BLOCK, 0))
	}
	if r.major >= 0 {
		skipIf(jneImm(r4, int32(r.major), 0))
	}
	if r.minor >= 0 {
		skipIf(jneImm(r5, int32(r.minor), 0))
	}
	switch {
	case access == accessAll:
		// Every requested bit is decided here.
	case r.allow:
		// Allow the bits this rule names; go on deciding the others.
		block = append(block, andImm(r3, ^access))
		skipIf(jneImm(r3, 0, 0))
	default:
		// Deny only if the request has a bit this rule names.
		block = append(block, movReg(r1, r3), andImm(r1, access))
		skipIf(jeqImm(r1, 0, 0))
	}
	verdict := int32(0)
	if r.allow {
		verdict = 1
	}
	block = append(block, movImm(r0, verdict), exit())
	for _, i := range skips {
		block[i].off = int16(len(block) - i - 1)
	}
	return block, len(skips) == 0
}
