package cgroups

import (
	"fmt"
	"math"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// deviceRule is a spec device rule with the spec's defaults filled in (an
// unset type is "a", an unset number is any) and checked, so that v1 and v2
// refuse the same rules before anything is created.
type deviceRule struct {
	allow        bool
	typ          byte  // 'a', 'c' or 'b'
	major, minor int64 // -1 is any
	access       string
}

func deviceRules(devs []specs.LinuxDeviceCgroup) ([]deviceRule, error) {
	out := make([]deviceRule, 0, len(devs))
	for _, d := range devs {
		r := deviceRule{allow: d.Allow, typ: 'a', major: -1, minor: -1, access: d.Access}
		switch d.Type {
		case "", "a":
		case "c", "b":
			r.typ = d.Type[0]
		default:
			return nil, fmt.Errorf("device rule type %q: %w", d.Type, errdefs.ErrInvalidArgument)
		}
		for _, n := range []struct {
			v   *int64
			dst *int64
		}{{d.Major, &r.major}, {d.Minor, &r.minor}} {
			if n.v == nil {
				continue
			}
			// The library took any negative number for "any" on v2
			// but wrote it as is on v1, where the kernel refused it;
			// only -1 is the spec's wildcard.
			if *n.v < -1 || *n.v > math.MaxUint32 {
				return nil, fmt.Errorf("device number %d: %w", *n.v, errdefs.ErrInvalidArgument)
			}
			*n.dst = *n.v
		}
		for _, c := range d.Access {
			if c != 'r' && c != 'w' && c != 'm' {
				return nil, fmt.Errorf("device access %q: %w", d.Access, errdefs.ErrInvalidArgument)
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// accessBits is the rule's access as the BPF_DEVCG_ACC_* bits the kernel
// hands a device program.
func (r deviceRule) accessBits() int32 {
	var bits int32
	for _, c := range r.access {
		switch c {
		case 'r':
			bits |= unix.BPF_DEVCG_ACC_READ
		case 'w':
			bits |= unix.BPF_DEVCG_ACC_WRITE
		case 'm':
			bits |= unix.BPF_DEVCG_ACC_MKNOD
		}
	}
	return bits
}
