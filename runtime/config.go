package runtime

import (
	"encoding/json"
	"fmt"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Config is a container's runtime-spec (config.json) as Create takes it:
// the document itself, which goes to the container's init unchanged, and
// the few sections that the creating process acts on (validation,
// namespaces, the cgroup). Only the init, which lives until execve,
// decodes the whole document. encoding/json keeps metadata for every
// struct type it has decoded or encoded for the rest of the process's life,
// and a shim lives as long as its container: decoding and re-encoding
// specs.Spec there cost each shim about 0.3 MiB of RSS.
type Config struct {
	data []byte
	view specView
}

// specView is the part of specs.Spec the creating process reads. Sections
// it only has to refuse are kept as raw JSON: presence is all it asks.
type specView struct {
	Process     *processView      `json:"process"`
	Root        *rootView         `json:"root"`
	Hooks       *hooksView        `json:"hooks"`
	Annotations map[string]string `json:"annotations"`
	Linux       *linuxView        `json:"linux"`
	specFieldsView
}

type rootView struct {
	Path string `json:"path"`
}

type processView struct {
	Terminal        bool            `json:"terminal"`
	Args            []string        `json:"args"`
	ApparmorProfile string          `json:"apparmorProfile"`
	SelinuxLabel    string          `json:"selinuxLabel"`
	Scheduler       json.RawMessage `json:"scheduler"`
	IOPriority      json.RawMessage `json:"ioPriority"`
	ExecCPUAffinity json.RawMessage `json:"execCPUAffinity"`
	// OOMScoreAdj is set by the constructor (nsenter.Request).
	OOMScoreAdj *int `json:"oomScoreAdj"`
	processFieldsView
}

// hooksView is every hook, so that a bad one is refused before anything
// runs; the runtime runs prestart, createRuntime, poststart and poststop,
// the init the other two, from its own copy of the spec.
type hooksView struct {
	Prestart        []specs.Hook `json:"prestart"`
	CreateRuntime   []specs.Hook `json:"createRuntime"`
	CreateContainer []specs.Hook `json:"createContainer"`
	StartContainer  []specs.Hook `json:"startContainer"`
	Poststart       []specs.Hook `json:"poststart"`
	Poststop        []specs.Hook `json:"poststop"`
}

type linuxView struct {
	CgroupsPath string                           `json:"cgroupsPath"`
	Namespaces  []specs.LinuxNamespace           `json:"namespaces"`
	Resources   *specs.LinuxResources            `json:"resources"`
	Seccomp     json.RawMessage                  `json:"seccomp"`
	MountLabel  string                           `json:"mountLabel"`
	IntelRdt    json.RawMessage                  `json:"intelRdt"`
	Personality json.RawMessage                  `json:"personality"`
	UIDMappings []specs.LinuxIDMapping           `json:"uidMappings"`
	GIDMappings []specs.LinuxIDMapping           `json:"gidMappings"`
	TimeOffsets map[string]specs.LinuxTimeOffset `json:"timeOffsets"`
	linuxFieldsView
}

// ParseConfig reads a config.json document. It checks what the creating
// process needs; the init checks the rest when it decodes the document.
func ParseConfig(data []byte) (*Config, error) {
	c := &Config{data: data}
	if err := json.Unmarshal(data, &c.view); err != nil {
		return nil, fmt.Errorf("runtime spec: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	v := &c.view
	if v.Process == nil || v.Root == nil || v.Linux == nil {
		return nil, fmt.Errorf("spec needs process, root and linux sections: %w", errdefs.ErrInvalidArgument)
	}
	if len(v.Process.Args) == 0 {
		return nil, fmt.Errorf("process.args is empty: %w", errdefs.ErrInvalidArgument)
	}
	if err := v.validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// NewConfig is ParseConfig for a caller that holds a decoded spec.
func NewConfig(spec *specs.Spec) (*Config, error) {
	if spec == nil {
		return nil, fmt.Errorf("no spec: %w", errdefs.ErrInvalidArgument)
	}
	data, err := json.Marshal(spec)
	if err != nil {
		return nil, fmt.Errorf("encode spec: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	return ParseConfig(data)
}

// Terminal reports whether the container's process wants a terminal.
func (c *Config) Terminal() bool { return c.view.Process.Terminal }

// SetTerminal overrides process.terminal: the task's stdio decides, as
// with containerd's runc shim (containerd's client asks for a terminal on
// a spec without one, and the reverse).
func (c *Config) SetTerminal(t bool) { c.view.Process.Terminal = t }

// Annotations returns the spec's annotations; the caller must not modify
// them.
func (c *Config) Annotations() map[string]string { return c.view.Annotations }

// CgroupsPath returns the spec's linux.cgroupsPath, "" if it has none.
func (c *Config) CgroupsPath() string { return c.view.Linux.CgroupsPath }

// cgroupPath is the spec's cgroupsPath, or raind's default for id.
func (c *Config) cgroupPath(id string) string {
	if p := c.view.Linux.CgroupsPath; p != "" {
		return p
	}
	return defaultCgroupPath(id)
}

// defaultCgroupPath is where a container goes when its spec does not say.
func defaultCgroupPath(id string) string { return "/raind/" + id }

// ProcessConfig is a process spec for Exec, in the same two forms as
// Config and for the same reason.
type ProcessConfig struct {
	data []byte
	view processView
}

// ParseProcess reads a runtime-spec process document, as containerd sends
// it with an exec.
func ParseProcess(data []byte) (*ProcessConfig, error) {
	p := &ProcessConfig{data: data}
	if err := json.Unmarshal(data, &p.view); err != nil {
		return nil, fmt.Errorf("process spec: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	if len(p.view.Args) == 0 {
		return nil, fmt.Errorf("process.args is empty: %w", errdefs.ErrInvalidArgument)
	}
	if err := p.view.validate(); err != nil {
		return nil, err
	}
	return p, nil
}

// NewProcessConfig is ParseProcess for a caller that holds a decoded
// process spec.
func NewProcessConfig(proc *specs.Process) (*ProcessConfig, error) {
	if proc == nil {
		return nil, fmt.Errorf("no process spec: %w", errdefs.ErrInvalidArgument)
	}
	data, err := json.Marshal(proc)
	if err != nil {
		return nil, fmt.Errorf("encode process spec: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	return ParseProcess(data)
}

// Terminal reports whether the process wants a terminal.
func (p *ProcessConfig) Terminal() bool { return p.view.Terminal }

// SetTerminal overrides the exec's process.terminal with its stdio's.
func (p *ProcessConfig) SetTerminal(t bool) { p.view.Terminal = t }

// present reports whether a raw section is there; JSON null is absence, as
// it is for the pointer it stands for in specs.Spec.
func present(r json.RawMessage) bool {
	return len(r) > 0 && string(r) != "null"
}
