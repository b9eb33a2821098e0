package netdev

import (
	"errors"
	"fmt"
	goruntime "runtime"
	"strings"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Move moves each device of devs from the caller's network namespace into
// the one at nsPath. On error, devices already moved stay where they are:
// they go with the namespace, whose owner is tearing the container down.
func Move(nsPath string, devs map[string]specs.LinuxNetDevice) error {
	if len(devs) == 0 {
		return nil
	}
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		return fmt.Errorf("linux.netDevices: open network namespace %s: %w", nsPath, err)
	}
	defer ns.Close()
	host, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("linux.netDevices: netlink socket: %w", err)
	}
	defer host.Close()
	inside, err := handleIn(ns)
	if err != nil {
		return fmt.Errorf("linux.netDevices: netlink socket in %s: %w", nsPath, err)
	}
	defer inside.Close()
	for _, name := range sortedNames(devs) {
		if err := moveOne(host, inside, ns, name, targetName(name, devs[name])); err != nil {
			return fmt.Errorf("linux.netDevices[%q]: %w", name, err)
		}
	}
	return nil
}

func moveOne(host, inside *netlink.Handle, ns netns.NsHandle, name, newName string) error {
	link, err := host.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return fmt.Errorf("no such device on the host: %w", errdefs.ErrNotFound)
		}
		return fmt.Errorf("look up device: %w", err)
	}
	addrs, err := host.AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		return fmt.Errorf("list addresses: %w", err)
	}
	// The kernel drops addresses when a device changes namespace; the
	// spec asks to keep the permanent ones of global scope.
	var keep []netlink.Addr
	for _, a := range addrs {
		if a.Scope == unix.RT_SCOPE_UNIVERSE && a.Flags&unix.IFA_F_PERMANENT != 0 {
			keep = append(keep, a)
		}
	}
	// Down first, so nothing on the host keeps using it mid-move.
	if err := host.LinkSetDown(link); err != nil {
		return fmt.Errorf("set down: %w", err)
	}
	index := link.Attrs().Index
	if err := moveAndRename(index, newName, ns); err != nil {
		return err
	}
	var moved netlink.Link
	if strings.Contains(newName, "%d") {
		// The kernel picked the number; the index survives the move
		// unless the container already uses it, so check the name too.
		moved, err = inside.LinkByIndex(index)
		if err == nil && !matchesTemplate(moved.Attrs().Name, newName) {
			err = fmt.Errorf("device at index %d is %q", index, moved.Attrs().Name)
		}
	} else {
		moved, err = inside.LinkByName(newName)
	}
	if err != nil {
		return fmt.Errorf("find %q in the container: %w", newName, err)
	}
	for _, a := range keep {
		a.Label = ""
		a.LinkIndex = 0
		if err := inside.AddrAdd(moved, &a); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("restore address %s: %w", a.IPNet, err)
		}
	}
	if err := inside.LinkSetUp(moved); err != nil {
		return fmt.Errorf("set %q up in the container: %w", moved.Attrs().Name, err)
	}
	return nil
}

// moveAndRename changes namespace and name in one RTM_NEWLINK, so the
// device is never in the container under a name that clashes there, nor
// back on the host under its new name. A name holding %d is a template the
// kernel fills in.
func moveAndRename(index int, newName string, ns netns.NsHandle) error {
	req := nl.NewNetlinkRequest(unix.RTM_NEWLINK, unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(index)
	req.AddData(msg)
	req.AddData(nl.NewRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(newName)))
	req.AddData(nl.NewRtAttr(unix.IFLA_NET_NS_FD, nl.Uint32Attr(uint32(ns))))
	if _, err := req.Execute(unix.NETLINK_ROUTE, 0); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("move into the container as %q: a device of that name exists there: %w: %w", newName, errdefs.ErrAlreadyExists, err)
		}
		return fmt.Errorf("move into the container as %q: the kernel refused: %w", newName, err)
	}
	return nil
}

// matchesTemplate reports whether name is what the kernel makes of a
// template such as "eth%d": the same text around a decimal number.
func matchesTemplate(name, tmpl string) bool {
	pre, post, _ := strings.Cut(tmpl, "%d")
	if !strings.HasPrefix(name, pre) || !strings.HasSuffix(name, post) || len(name) <= len(pre)+len(post) {
		return false
	}
	for _, c := range name[len(pre) : len(name)-len(post)] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// handleIn opens a netlink socket inside ns. A socket stays in the
// namespace it was created in, so only its creation needs to be there: it
// happens on a thread of its own that enters ns and is then thrown away
// (a goroutine that exits locked takes its thread along). netlink's own
// NewHandleAt moves a shared thread in and back instead, and a failed move
// back would leave a shim thread in the container's namespace.
func handleIn(ns netns.NsHandle) (*netlink.Handle, error) {
	type result struct {
		h   *netlink.Handle
		err error
	}
	done := make(chan result, 1)
	go func() {
		goruntime.LockOSThread()
		if err := unix.Setns(int(ns), unix.CLONE_NEWNET); err != nil {
			done <- result{err: fmt.Errorf("enter network namespace: %w", err)}
			return
		}
		h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
		done <- result{h, err}
	}()
	r := <-done
	return r.h, r.err
}
