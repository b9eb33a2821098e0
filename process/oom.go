package process

import (
	"context"
	"fmt"
)

// OOMEvents reports the OOM kills in the container's cgroup (see
// cgroups.Manager.OOMEvents): ErrNotImplemented without a memory
// controller, and the channel closes when ctx is done or the cgroup is
// removed.
func (p *Init) OOMEvents(ctx context.Context) (<-chan struct{}, error) {
	m, err := p.manager()
	if err != nil {
		return nil, err
	}
	ch, err := m.OOMEvents(ctx)
	if err != nil {
		return nil, fmt.Errorf("OOM events of %s: %w", p.id, err)
	}
	return ch, nil
}

// OOMKills is the kernel's count of OOM kills in the container's cgroup
// (see cgroups.Manager.OOMKills).
func (p *Init) OOMKills() (uint64, error) {
	m, err := p.manager()
	if err != nil {
		return 0, err
	}
	n, err := m.OOMKills()
	if err != nil {
		return 0, fmt.Errorf("OOM kills of %s: %w", p.id, err)
	}
	return n, nil
}
