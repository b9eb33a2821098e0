package runtime

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/raind/raind/runtime/netdev"
)

// moveNetDevices moves linux.netDevices into the network namespace of the
// init, which has it by now and waits for Start, so the user's program
// finds them there from its first instruction. runc does the same from its
// parent, between the init's namespace set-up and its ready report.
func (c *Container) moveNetDevices(devs map[string]specs.LinuxNetDevice) error {
	if len(devs) == 0 {
		return nil
	}
	if err := netdev.Move(fmt.Sprintf("/proc/%d/ns/net", c.init.pid), devs); err != nil {
		return err
	}
	return nil
}
