package procattr

import (
	"fmt"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Scheduling policies and flags as sched_setattr(2) numbers them
// (include/uapi/linux/sched.h). SCHED_ISO is reserved there but no kernel
// implements it: sched_setattr refuses it with EINVAL, which the error
// then reports.
func schedPolicy(p specs.LinuxSchedulerPolicy) (uint32, bool) {
	switch p {
	case specs.SchedOther:
		return 0, true
	case specs.SchedFIFO:
		return 1, true
	case specs.SchedRR:
		return 2, true
	case specs.SchedBatch:
		return 3, true
	case specs.SchedISO:
		return 4, true
	case specs.SchedIdle:
		return 5, true
	case specs.SchedDeadline:
		return 6, true
	}
	return 0, false
}

func schedFlag(f specs.LinuxSchedulerFlag) (uint64, bool) {
	switch f {
	case specs.SchedFlagResetOnFork:
		return 0x01, true
	case specs.SchedFlagReclaim:
		return 0x02, true
	case specs.SchedFlagDLOverrun:
		return 0x04, true
	case specs.SchedFlagKeepPolicy:
		return 0x08, true
	case specs.SchedFlagKeepParams:
		return 0x10, true
	case specs.SchedFlagUtilClampMin:
		return 0x20, true
	case specs.SchedFlagUtilClampMax:
		return 0x40, true
	}
	return 0, false
}

// SchedAttr checks process.scheduler and turns it into sched_setattr's
// argument. The checks are those the field's documentation makes: nice in
// -20..19, priority only for the real-time policies, runtime/deadline/period
// only for SCHED_DEADLINE. What depends on the kernel (priority ranges,
// deadline admission) is left to it, and its refusal reported.
func SchedAttr(s *specs.Scheduler) (*unix.SchedAttr, error) {
	if s == nil {
		return nil, nil
	}
	invalid := func(format string, a ...any) (*unix.SchedAttr, error) {
		return nil, fmt.Errorf("process.scheduler: "+format+": %w", append(a, errdefs.ErrInvalidArgument)...)
	}
	policy, ok := schedPolicy(s.Policy)
	if !ok {
		return invalid("unknown policy %q", s.Policy)
	}
	if s.Nice < -20 || s.Nice > 19 {
		return invalid("nice %d is outside -20..19", s.Nice)
	}
	if s.Priority != 0 && s.Policy != specs.SchedFIFO && s.Policy != specs.SchedRR {
		return invalid("priority is only for SCHED_FIFO and SCHED_RR, not %s", s.Policy)
	}
	if s.Priority < 0 {
		return invalid("priority %d is negative", s.Priority)
	}
	if s.Policy != specs.SchedDeadline && (s.Runtime != 0 || s.Deadline != 0 || s.Period != 0) {
		return invalid("runtime, deadline and period are only for SCHED_DEADLINE, not %s", s.Policy)
	}
	var flags uint64
	for _, f := range s.Flags {
		v, ok := schedFlag(f)
		if !ok {
			return invalid("unknown flag %q", f)
		}
		flags |= v
	}
	return &unix.SchedAttr{
		Size:     unix.SizeofSchedAttr,
		Policy:   policy,
		Flags:    flags,
		Nice:     s.Nice,
		Priority: uint32(s.Priority),
		Runtime:  s.Runtime,
		Deadline: s.Deadline,
		Period:   s.Period,
	}, nil
}

// SetScheduler applies process.scheduler to the calling thread.
func SetScheduler(s *specs.Scheduler) error {
	attr, err := SchedAttr(s)
	if err != nil || attr == nil {
		return err
	}
	if err := unix.SchedSetAttr(0, attr, 0); err != nil {
		return fmt.Errorf("process.scheduler: the kernel refused sched_setattr(policy %s, nice %d, priority %d): %w",
			s.Policy, s.Nice, s.Priority, err)
	}
	return nil
}
