package taskpb

import "time"

// Any is google.protobuf.Any: a message packed with the URL of its type.
type Any struct {
	TypeURL string
	Value   []byte
}

func (m *Any) Marshal() []byte {
	var b []byte
	b = appendString(b, 1, m.TypeURL)
	b = appendBytes(b, 2, m.Value)
	return b
}

func (m *Any) Unmarshal(b []byte) error {
	*m = Any{}
	return unmarshalError(m.merge(b))
}

func (m *Any) merge(b []byte) error {
	return decode("Any", b, func(f *field) {
		switch f.num {
		case 1:
			f.str(&m.TypeURL, "type_url")
		case 2:
			f.byteSlice(&m.Value, "value")
		}
	})
}

// Empty is google.protobuf.Empty.
type Empty struct{}

func (m *Empty) Marshal() []byte { return nil }

func (m *Empty) Unmarshal(b []byte) error {
	return unmarshalError(m.merge(b))
}

// merge still walks the input so that malformed bytes are an error even
// where no field is expected.
func (m *Empty) merge(b []byte) error {
	return decode("Empty", b, func(*field) {})
}

// Status is containerd.v1.types.Status.
type Status int32

const (
	StatusUnknown Status = 0
	StatusCreated Status = 1
	StatusRunning Status = 2
	StatusStopped Status = 3
	StatusPaused  Status = 4
	StatusPausing Status = 5
)

// Mount is containerd.types.Mount.
type Mount struct {
	Type    string
	Source  string
	Target  string
	Options []string
}

func (m *Mount) Marshal() []byte {
	var b []byte
	b = appendString(b, 1, m.Type)
	b = appendString(b, 2, m.Source)
	b = appendString(b, 3, m.Target)
	b = appendStrings(b, 4, m.Options)
	return b
}

func (m *Mount) Unmarshal(b []byte) error {
	*m = Mount{}
	return unmarshalError(m.merge(b))
}

func (m *Mount) merge(b []byte) error {
	return decode("Mount", b, func(f *field) {
		switch f.num {
		case 1:
			f.str(&m.Type, "type")
		case 2:
			f.str(&m.Source, "source")
		case 3:
			f.str(&m.Target, "target")
		case 4:
			f.strs(&m.Options, "options")
		}
	})
}

// ProcessInfo is containerd.v1.types.ProcessInfo.
type ProcessInfo struct {
	Pid  uint32
	Info *Any
}

func (m *ProcessInfo) Marshal() []byte {
	var b []byte
	b = appendVarint(b, 1, uint64(m.Pid))
	b = appendAny(b, 2, m.Info)
	return b
}

func (m *ProcessInfo) Unmarshal(b []byte) error {
	*m = ProcessInfo{}
	return unmarshalError(m.merge(b))
}

func (m *ProcessInfo) merge(b []byte) error {
	return decode("ProcessInfo", b, func(f *field) {
		switch f.num {
		case 1:
			f.uint32(&m.Pid, "pid")
		case 2:
			f.any(&m.Info, "info")
		}
	})
}

// ProcessDetails is containerd.runc.v1.ProcessDetails, the Info of an exec
// process in a PidsResponse.
type ProcessDetails struct {
	ExecID string
}

// TypeURL is the type URL containerd expects in the Any that carries it.
func (m *ProcessDetails) TypeURL() string { return "containerd.runc.v1.ProcessDetails" }

func (m *ProcessDetails) Marshal() []byte {
	return appendString(nil, 1, m.ExecID)
}

func (m *ProcessDetails) Unmarshal(b []byte) error {
	*m = ProcessDetails{}
	return unmarshalError(m.merge(b))
}

func (m *ProcessDetails) merge(b []byte) error {
	return decode("ProcessDetails", b, func(f *field) {
		if f.num == 1 {
			f.str(&m.ExecID, "exec_id")
		}
	})
}

// RuntimeVersion is containerd.types.RuntimeVersion.
type RuntimeVersion struct {
	Version  string
	Revision string
}

func (m *RuntimeVersion) Marshal() []byte {
	var b []byte
	b = appendString(b, 1, m.Version)
	b = appendString(b, 2, m.Revision)
	return b
}

func (m *RuntimeVersion) Unmarshal(b []byte) error {
	*m = RuntimeVersion{}
	return unmarshalError(m.merge(b))
}

func (m *RuntimeVersion) merge(b []byte) error {
	return decode("RuntimeVersion", b, func(f *field) {
		switch f.num {
		case 1:
			f.str(&m.Version, "version")
		case 2:
			f.str(&m.Revision, "revision")
		}
	})
}

// RuntimeInfo is containerd.types.RuntimeInfo, what the shim prints for
// the -info action.
type RuntimeInfo struct {
	Name        string
	Version     *RuntimeVersion
	Options     *Any
	Features    *Any
	Annotations map[string]string
}

func (m *RuntimeInfo) Marshal() []byte {
	var b []byte
	b = appendString(b, 1, m.Name)
	b = appendMessage(b, 2, m.Version)
	b = appendAny(b, 3, m.Options)
	b = appendAny(b, 4, m.Features)
	b = appendStringMap(b, 5, m.Annotations)
	return b
}

func (m *RuntimeInfo) Unmarshal(b []byte) error {
	*m = RuntimeInfo{}
	return unmarshalError(m.merge(b))
}

func (m *RuntimeInfo) merge(b []byte) error {
	return decode("RuntimeInfo", b, func(f *field) {
		switch f.num {
		case 1:
			f.str(&m.Name, "name")
		case 2:
			decodeMessage(f, &m.Version, "version")
		case 3:
			f.any(&m.Options, "options")
		case 4:
			f.any(&m.Features, "features")
		case 5:
			f.stringMap(&m.Annotations, "annotations")
		}
	})
}

// EventsService is the ttrpc service the shim forwards its events to.
const EventsService = "containerd.services.events.ttrpc.v1.Events"

// Envelope is containerd.types.Envelope.
type Envelope struct {
	Timestamp time.Time
	Namespace string
	Topic     string
	Event     *Any
}

func (m *Envelope) Marshal() []byte {
	var b []byte
	b = appendTime(b, 1, m.Timestamp)
	b = appendString(b, 2, m.Namespace)
	b = appendString(b, 3, m.Topic)
	b = appendAny(b, 4, m.Event)
	return b
}

func (m *Envelope) Unmarshal(b []byte) error {
	*m = Envelope{}
	return unmarshalError(m.merge(b))
}

func (m *Envelope) merge(b []byte) error {
	return decode("Envelope", b, func(f *field) {
		switch f.num {
		case 1:
			f.time(&m.Timestamp, "timestamp")
		case 2:
			f.str(&m.Namespace, "namespace")
		case 3:
			f.str(&m.Topic, "topic")
		case 4:
			f.any(&m.Event, "event")
		}
	})
}

// ForwardRequest is containerd.services.events.ttrpc.v1.ForwardRequest.
type ForwardRequest struct {
	Envelope *Envelope
}

func (m *ForwardRequest) Marshal() []byte {
	return appendMessage(nil, 1, m.Envelope)
}

func (m *ForwardRequest) Unmarshal(b []byte) error {
	*m = ForwardRequest{}
	return unmarshalError(m.merge(b))
}

func (m *ForwardRequest) merge(b []byte) error {
	return decode("ForwardRequest", b, func(f *field) {
		if f.num == 1 {
			decodeMessage(f, &m.Envelope, "envelope")
		}
	})
}
