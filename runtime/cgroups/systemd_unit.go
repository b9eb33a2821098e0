package cgroups

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/containerd/errdefs"
	sddbus "github.com/coreos/go-systemd/v22/dbus"
	godbus "github.com/godbus/dbus/v5"
)

// startUnit starts the unit and waits for systemd's job to end. A unit of
// that name left failed by an earlier container is reset and the start
// tried once more.
func (c *systemdCgroup) startUnit(ctx context.Context, conn *sddbus.Conn, props []sddbus.Property) error {
	name := c.unit.unit
	// Buffered: go-systemd sends the job's result once, also after a
	// timeout here, and must not block its signal loop on it.
	ch := make(chan string, 1)
	_, err := conn.StartTransientUnitContext(ctx, name, "replace", props, ch)
	if err != nil && isDBusError(err, "org.freedesktop.systemd1.UnitExists") {
		_ = conn.ResetFailedUnitContext(ctx, name)
		_, err = conn.StartTransientUnitContext(ctx, name, "replace", props, ch)
	}
	if err != nil {
		return fmt.Errorf("systemd unit %s: start: %w", name, dbusError(err))
	}
	if res, err := c.waitJob(ch); err != nil || res != "done" {
		_ = conn.ResetFailedUnitContext(ctx, name)
		if err == nil {
			err = fmt.Errorf("job %s", res)
		}
		return fmt.Errorf("systemd unit %s: start: %w: %w", name, err, errdefs.ErrUnavailable)
	}
	return nil
}

// stopUnit stops the unit; nil if systemd has none of that name.
func (c *systemdCgroup) stopUnit(ctx context.Context, conn *sddbus.Conn) error {
	name := c.unit.unit
	ch := make(chan string, 1)
	if _, err := conn.StopUnitContext(ctx, name, "replace", ch); err != nil {
		if isDBusError(err, "org.freedesktop.systemd1.NoSuchUnit") {
			return nil
		}
		return fmt.Errorf("systemd unit %s: stop: %w", name, dbusError(err))
	}
	res, err := c.waitJob(ch)
	// A unit that failed stays listed until it is reset.
	_ = conn.ResetFailedUnitContext(ctx, name)
	if err != nil {
		return fmt.Errorf("systemd unit %s: stop: %w: %w", name, err, errdefs.ErrUnavailable)
	}
	if res != "done" {
		return fmt.Errorf("systemd unit %s: stop: job %s: %w", name, res, errdefs.ErrUnavailable)
	}
	return nil
}

func (c *systemdCgroup) waitJob(ch <-chan string) (string, error) {
	t := time.NewTimer(c.host.timeout)
	defer t.Stop()
	select {
	case res := <-ch:
		return res, nil
	case <-t.C:
		return "", fmt.Errorf("no answer from systemd in %s", c.host.timeout)
	}
}

func isDBusError(err error, name string) bool {
	var de godbus.Error
	return errors.As(err, &de) && de.Name == name
}

// dbusError gives a systemd error its errdefs kind: systemd refusing a
// property or a name is bad input, a missing unit is not found.
func dbusError(err error) error {
	var de godbus.Error
	if !errors.As(err, &de) {
		return fmt.Errorf("%w: %w", err, errdefs.ErrUnavailable)
	}
	switch de.Name {
	case "org.freedesktop.DBus.Error.InvalidArgs", "org.freedesktop.DBus.Error.PropertyReadOnly":
		return fmt.Errorf("%w: %w", err, errdefs.ErrInvalidArgument)
	case "org.freedesktop.systemd1.NoSuchUnit":
		return fmt.Errorf("%w: %w", err, errdefs.ErrNotFound)
	case "org.freedesktop.systemd1.UnitExists":
		return fmt.Errorf("%w: %w", err, errdefs.ErrAlreadyExists)
	}
	return fmt.Errorf("%w: %w", err, errdefs.ErrUnknown)
}
