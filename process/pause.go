package process

import (
	"fmt"
	"syscall"

	"github.com/containerd/errdefs"
)

// Pause freezes every process of the running container (v1 freezer.state,
// v2 cgroup.freeze). A paused container stays Running in its lifecycle,
// which only moves forward; Paused says it is frozen.
func (p *Init) Pause() error {
	p.pauseMu.Lock()
	defer p.pauseMu.Unlock()
	if s := p.Status(); s != Running {
		return fmt.Errorf("cannot pause container %s: it is %s: %w", p.id, s, errdefs.ErrFailedPrecondition)
	}
	if p.paused {
		return fmt.Errorf("container %s is paused already: %w", p.id, errdefs.ErrFailedPrecondition)
	}
	m, err := p.manager()
	if err != nil {
		return err
	}
	if err := m.Freeze(); err != nil {
		// A freeze that failed half way must not leave processes stopped.
		_ = m.Thaw()
		return fmt.Errorf("pause %s: %w", p.id, err)
	}
	p.paused = true
	return nil
}

// Resume thaws a paused container.
func (p *Init) Resume() error {
	p.pauseMu.Lock()
	defer p.pauseMu.Unlock()
	if !p.paused {
		return fmt.Errorf("container %s is not paused: %w", p.id, errdefs.ErrFailedPrecondition)
	}
	m, err := p.manager()
	if err != nil {
		return err
	}
	if err := m.Thaw(); err != nil {
		return fmt.Errorf("resume %s: %w", p.id, err)
	}
	p.paused = false
	return nil
}

// Paused reports whether the container is frozen.
func (p *Init) Paused() bool {
	p.pauseMu.Lock()
	defer p.pauseMu.Unlock()
	return p.paused
}

// afterKill keeps a paused container's freezer as the signal needs it. A
// frozen process dies of SIGKILL only once thawed (cgroup v1), so a
// SIGKILL resumes the container, as runc does for a kill -9 of a paused
// one. Any other signal waits for Resume: the freeze is put back, since a
// kill of every process (KillAll) thaws the cgroup when it is done.
func (p *Init) afterKill(sig syscall.Signal) error {
	p.pauseMu.Lock()
	defer p.pauseMu.Unlock()
	if !p.paused {
		return nil
	}
	m, err := p.manager()
	if err != nil {
		return err
	}
	if sig != syscall.SIGKILL {
		if err := m.Freeze(); err != nil {
			return fmt.Errorf("keep %s paused after signal %d: %w", p.id, sig, err)
		}
		return nil
	}
	if err := m.Thaw(); err != nil {
		return fmt.Errorf("thaw %s after SIGKILL: %w", p.id, err)
	}
	p.paused = false
	return nil
}
