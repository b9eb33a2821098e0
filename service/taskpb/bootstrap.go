package taskpb

// LogLevel is containerd.runtime.bootstrap.v1.LogLevel.
type LogLevel int32

const (
	LogLevelInfo  LogLevel = 0
	LogLevelTrace LogLevel = -8
	LogLevelDebug LogLevel = -4
	LogLevelWarn  LogLevel = 4
	LogLevelError LogLevel = 8
	LogLevelFatal LogLevel = 10
	LogLevelPanic LogLevel = 12
)

// BootstrapParams is containerd.runtime.bootstrap.v1.BootstrapParams, what
// containerd writes to the shim's stdin on start.
type BootstrapParams struct {
	InstanceID             string
	Namespace              string
	LogLevel               LogLevel
	ContainerdVersion      string
	ContainerdTtrpcAddress string
	ContainerdGrpcAddress  string
	ContainerdBinary       string
	Extensions             []*Extension
	// SocketDir is an optional field in the proto; an empty directory
	// means nothing to the shim, so "" stands for absent.
	SocketDir string
}

func (m *BootstrapParams) Marshal() []byte {
	var b []byte
	b = appendString(b, 1, m.InstanceID)
	b = appendString(b, 2, m.Namespace)
	b = appendInt32(b, 3, int32(m.LogLevel))
	b = appendString(b, 4, m.ContainerdVersion)
	b = appendString(b, 5, m.ContainerdTtrpcAddress)
	b = appendString(b, 6, m.ContainerdGrpcAddress)
	b = appendString(b, 7, m.ContainerdBinary)
	b = appendMessages(b, 8, m.Extensions)
	b = appendString(b, 9, m.SocketDir)
	return b
}

func (m *BootstrapParams) Unmarshal(b []byte) error {
	*m = BootstrapParams{}
	return unmarshalError(m.merge(b))
}

func (m *BootstrapParams) merge(b []byte) error {
	return decode("BootstrapParams", b, func(f *field) {
		switch f.num {
		case 1:
			f.str(&m.InstanceID, "instance_id")
		case 2:
			f.str(&m.Namespace, "namespace")
		case 3:
			f.int32((*int32)(&m.LogLevel), "log_level")
		case 4:
			f.str(&m.ContainerdVersion, "containerd_version")
		case 5:
			f.str(&m.ContainerdTtrpcAddress, "containerd_ttrpc_address")
		case 6:
			f.str(&m.ContainerdGrpcAddress, "containerd_grpc_address")
		case 7:
			f.str(&m.ContainerdBinary, "containerd_binary")
		case 8:
			decodeMessages(f, &m.Extensions, "extensions")
		case 9:
			f.str(&m.SocketDir, "socket_dir")
		}
	})
}

// Extension is containerd.runtime.bootstrap.v1.Extension.
type Extension struct {
	Value *Any
}

func (m *Extension) Marshal() []byte {
	return appendAny(nil, 1, m.Value)
}

func (m *Extension) Unmarshal(b []byte) error {
	*m = Extension{}
	return unmarshalError(m.merge(b))
}

func (m *Extension) merge(b []byte) error {
	return decode("Extension", b, func(f *field) {
		if f.num == 1 {
			f.any(&m.Value, "value")
		}
	})
}

// BootstrapResult is containerd.runtime.bootstrap.v1.BootstrapResult, what
// the shim writes to its stdout on start.
type BootstrapResult struct {
	Version  int32
	Address  string
	Protocol string
	// Capabilities holds containerd.runtime.bootstrap.v1.Capability values,
	// which has no values worth a Go type yet.
	Capabilities []int32
	Metadata     map[string]string
	Extensions   []*Extension
}

func (m *BootstrapResult) Marshal() []byte {
	var b []byte
	b = appendInt32(b, 1, m.Version)
	b = appendString(b, 2, m.Address)
	b = appendString(b, 3, m.Protocol)
	b = appendInt32s(b, 4, m.Capabilities)
	b = appendStringMap(b, 5, m.Metadata)
	b = appendMessages(b, 6, m.Extensions)
	return b
}

func (m *BootstrapResult) Unmarshal(b []byte) error {
	*m = BootstrapResult{}
	return unmarshalError(m.merge(b))
}

func (m *BootstrapResult) merge(b []byte) error {
	return decode("BootstrapResult", b, func(f *field) {
		switch f.num {
		case 1:
			f.int32(&m.Version, "version")
		case 2:
			f.str(&m.Address, "address")
		case 3:
			f.str(&m.Protocol, "protocol")
		case 4:
			f.int32s(&m.Capabilities, "capabilities")
		case 5:
			f.stringMap(&m.Metadata, "metadata")
		case 6:
			decodeMessages(f, &m.Extensions, "extensions")
		}
	})
}
