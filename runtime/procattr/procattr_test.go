package procattr

import (
	"errors"
	"os"
	goruntime "runtime"
	"testing"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestParseList(t *testing.T) {
	for in, want := range map[string][]int{
		"":          nil,
		"0":         {0},
		"0-3,7":     {0, 1, 2, 3, 7},
		" 1 , 4-5 ": {1, 4, 5},
		"2-2":       {2},
		"1023":      {1023},
	} {
		set, err := parseList("f", in)
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		if set.Count() != len(want) {
			t.Errorf("%q: %d CPUs, want %v", in, set.Count(), want)
		}
		for _, c := range want {
			if !set.IsSet(c) {
				t.Errorf("%q: %d not set", in, c)
			}
		}
	}
	for _, in := range []string{"-", "1-", "-1", "a", "1,,2", "3-1", "1024", "0-99999999999", "1-2-3", "0x1"} {
		if _, err := parseList("some.field", in); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("%q: %v, want InvalidArgument", in, err)
		}
	}
}

func FuzzParseList(f *testing.F) {
	for _, s := range []string{"0-3,7", "", "1-", "4294967296"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		set, err := parseList("f", s)
		if err == nil && set.Count() > maxListIndex+1 {
			t.Fatalf("%q: %d CPUs", s, set.Count())
		}
	})
}

func TestSchedAttr(t *testing.T) {
	a, err := SchedAttr(&specs.Scheduler{Policy: specs.SchedDeadline, Runtime: 1, Deadline: 2, Period: 3, Flags: []specs.LinuxSchedulerFlag{specs.SchedFlagResetOnFork}})
	if err != nil {
		t.Fatal(err)
	}
	if a.Policy != 6 || a.Runtime != 1 || a.Deadline != 2 || a.Period != 3 || a.Flags != 1 {
		t.Errorf("attr %+v", a)
	}
	if a, err := SchedAttr(nil); a != nil || err != nil {
		t.Errorf("nil scheduler: %v %v", a, err)
	}
}

func TestIOPrio(t *testing.T) {
	v, ok, err := IOPrio(&specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_BE, Priority: 7})
	if err != nil || !ok || v != 2<<13|7 {
		t.Errorf("%#x %v %v", v, ok, err)
	}
	if _, _, err := IOPrio(&specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_RT, Priority: -1}); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Error(err)
	}
}

func TestMemPolicyFlags(t *testing.T) {
	mp, err := ParseMemoryPolicy(&specs.LinuxMemoryPolicy{Mode: specs.MpolInterleave, Nodes: "0,1", Flags: []specs.MemoryPolicyFlagType{specs.MpolFStaticNodes}})
	if err != nil {
		t.Fatal(err)
	}
	if mp.Mode != unix.MPOL_INTERLEAVE|unix.MPOL_F_STATIC_NODES || mp.Nodes.Count() != 2 {
		t.Errorf("%+v", mp)
	}
	if _, err := ParseMemoryPolicy(&specs.LinuxMemoryPolicy{Mode: specs.MpolPreferred}); err != nil {
		t.Errorf("MPOL_PREFERRED with no nodes: %v", err)
	}
}

func TestPersonality(t *testing.T) {
	v, ok, err := Personality(&specs.LinuxPersonality{Domain: specs.PerLinux32, Flags: []specs.LinuxPersonalityFlag{"ADDR_NO_RANDOMIZE"}})
	if err != nil || !ok || v != 0x0040008 {
		t.Errorf("%#x %v %v", v, ok, err)
	}
}

func TestAffinityEmptyListRefused(t *testing.T) {
	if _, err := ParseAffinity(&specs.CPUAffinity{Initial: " "}); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("blank initial: %v", err)
	}
	a, err := ParseAffinity(&specs.CPUAffinity{Final: "1"})
	if err != nil || a.Initial != nil || a.Final == nil || !a.Final.IsSet(1) {
		t.Errorf("%+v %v", a, err)
	}
}

// TestSetOnThread applies settings a process may always give itself to a
// throwaway thread and reads them back from the kernel.
func TestSetOnThread(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root for sched_setattr and ioprio_set in all cases")
	}
	errc := make(chan error, 1)
	go func() {
		// Not unlocked: the thread dies with the goroutine.
		goruntime.LockOSThread()
		errc <- func() error {
			if err := SetScheduler(&specs.Scheduler{Policy: specs.SchedBatch, Nice: 5}); err != nil {
				return err
			}
			attr, err := unix.SchedGetAttr(0, 0)
			if err != nil {
				return err
			}
			if attr.Policy != 3 || attr.Nice != 5 {
				return errors.New("scheduler not applied")
			}
			if err := SetIOPriority(&specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_IDLE}); err != nil {
				return err
			}
			if p, err := GetIOPriority(unix.Gettid()); err != nil || p != 3<<13 {
				return errors.New("io priority not applied")
			}
			if err := SetMemoryPolicy(&specs.LinuxMemoryPolicy{Mode: specs.MpolBind, Nodes: "0"}); err != nil {
				return err
			}
			// A node the host lacks: the kernel refuses, and says so.
			err = SetMemoryPolicy(&specs.LinuxMemoryPolicy{Mode: specs.MpolBind, Nodes: "1000"})
			if !errors.Is(err, unix.EINVAL) {
				return errors.New("set_mempolicy on a missing node: want EINVAL, got " + errString(err))
			}
			return nil
		}()
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func errString(err error) string {
	if err == nil {
		return "nil"
	}
	return err.Error()
}
