package taskpb

import "time"

// Event is a task event the shim publishes to containerd.
type Event interface {
	Message
	// Topic is the topic containerd files the event under.
	Topic() string
	// TypeURL names the event's type inside the envelope's Any.
	TypeURL() string
}

// MarshalEvent packs e the way containerd's typeurl does, so containerd
// can unpack it into its own type.
func MarshalEvent(e Event) *Any {
	return &Any{TypeURL: e.TypeURL(), Value: e.Marshal()}
}

// TaskCreate is containerd.events.TaskCreate.
type TaskCreate struct {
	ContainerID string
	Bundle      string
	Rootfs      []*Mount
	IO          *TaskIO
	Checkpoint  string
	Pid         uint32
}

func (*TaskCreate) Topic() string   { return "/tasks/create" }
func (*TaskCreate) TypeURL() string { return "containerd.events.TaskCreate" }

func (m *TaskCreate) Marshal() []byte {
	var b []byte
	b = appendString(b, 1, m.ContainerID)
	b = appendString(b, 2, m.Bundle)
	b = appendMessages(b, 3, m.Rootfs)
	b = appendMessage(b, 4, m.IO)
	b = appendString(b, 5, m.Checkpoint)
	b = appendVarint(b, 6, uint64(m.Pid))
	return b
}

func (m *TaskCreate) Unmarshal(b []byte) error {
	*m = TaskCreate{}
	return unmarshalError(m.merge(b))
}

func (m *TaskCreate) merge(b []byte) error {
	return decode("TaskCreate", b, func(f *field) {
		switch f.num {
		case 1:
			f.str(&m.ContainerID, "container_id")
		case 2:
			f.str(&m.Bundle, "bundle")
		case 3:
			decodeMessages(f, &m.Rootfs, "rootfs")
		case 4:
			decodeMessage(f, &m.IO, "io")
		case 5:
			f.str(&m.Checkpoint, "checkpoint")
		case 6:
			f.uint32(&m.Pid, "pid")
		}
	})
}

// TaskStart is containerd.events.TaskStart.
type TaskStart struct {
	ContainerID string
	Pid         uint32
}

func (*TaskStart) Topic() string   { return "/tasks/start" }
func (*TaskStart) TypeURL() string { return "containerd.events.TaskStart" }

func (m *TaskStart) Marshal() []byte {
	var b []byte
	b = appendString(b, 1, m.ContainerID)
	b = appendVarint(b, 2, uint64(m.Pid))
	return b
}

func (m *TaskStart) Unmarshal(b []byte) error {
	*m = TaskStart{}
	return unmarshalError(m.merge(b))
}

func (m *TaskStart) merge(b []byte) error {
	return decode("TaskStart", b, func(f *field) {
		switch f.num {
		case 1:
			f.str(&m.ContainerID, "container_id")
		case 2:
			f.uint32(&m.Pid, "pid")
		}
	})
}

// TaskDelete is containerd.events.TaskDelete.
type TaskDelete struct {
	ContainerID string
	Pid         uint32
	ExitStatus  uint32
	ExitedAt    time.Time
	ID          string
}

func (*TaskDelete) Topic() string   { return "/tasks/delete" }
func (*TaskDelete) TypeURL() string { return "containerd.events.TaskDelete" }

func (m *TaskDelete) Marshal() []byte {
	var b []byte
	b = appendString(b, 1, m.ContainerID)
	b = appendVarint(b, 2, uint64(m.Pid))
	b = appendVarint(b, 3, uint64(m.ExitStatus))
	b = appendTime(b, 4, m.ExitedAt)
	b = appendString(b, 5, m.ID)
	return b
}

func (m *TaskDelete) Unmarshal(b []byte) error {
	*m = TaskDelete{}
	return unmarshalError(m.merge(b))
}

func (m *TaskDelete) merge(b []byte) error {
	return decode("TaskDelete", b, func(f *field) {
		switch f.num {
		case 1:
			f.str(&m.ContainerID, "container_id")
		case 2:
			f.uint32(&m.Pid, "pid")
		case 3:
			f.uint32(&m.ExitStatus, "exit_status")
		case 4:
			f.time(&m.ExitedAt, "exited_at")
		case 5:
			f.str(&m.ID, "id")
		}
	})
}

// TaskIO is containerd.events.TaskIO, the stdio of a TaskCreate. It is not
// an event of its own.
type TaskIO struct {
	Stdin    string
	Stdout   string
	Stderr   string
	Terminal bool
}

func (m *TaskIO) Marshal() []byte {
	var b []byte
	b = appendString(b, 1, m.Stdin)
	b = appendString(b, 2, m.Stdout)
	b = appendString(b, 3, m.Stderr)
	b = appendBool(b, 4, m.Terminal)
	return b
}

func (m *TaskIO) Unmarshal(b []byte) error {
	*m = TaskIO{}
	return unmarshalError(m.merge(b))
}

func (m *TaskIO) merge(b []byte) error {
	return decode("TaskIO", b, func(f *field) {
		switch f.num {
		case 1:
			f.str(&m.Stdin, "stdin")
		case 2:
			f.str(&m.Stdout, "stdout")
		case 3:
			f.str(&m.Stderr, "stderr")
		case 4:
			f.bool(&m.Terminal, "terminal")
		}
	})
}

// TaskExit is containerd.events.TaskExit.
type TaskExit struct {
	ContainerID string
	ID          string
	Pid         uint32
	ExitStatus  uint32
	ExitedAt    time.Time
}

func (*TaskExit) Topic() string   { return "/tasks/exit" }
func (*TaskExit) TypeURL() string { return "containerd.events.TaskExit" }

func (m *TaskExit) Marshal() []byte {
	var b []byte
	b = appendString(b, 1, m.ContainerID)
	b = appendString(b, 2, m.ID)
	b = appendVarint(b, 3, uint64(m.Pid))
	b = appendVarint(b, 4, uint64(m.ExitStatus))
	b = appendTime(b, 5, m.ExitedAt)
	return b
}

func (m *TaskExit) Unmarshal(b []byte) error {
	*m = TaskExit{}
	return unmarshalError(m.merge(b))
}

func (m *TaskExit) merge(b []byte) error {
	return decode("TaskExit", b, func(f *field) {
		switch f.num {
		case 1:
			f.str(&m.ContainerID, "container_id")
		case 2:
			f.str(&m.ID, "id")
		case 3:
			f.uint32(&m.Pid, "pid")
		case 4:
			f.uint32(&m.ExitStatus, "exit_status")
		case 5:
			f.time(&m.ExitedAt, "exited_at")
		}
	})
}

// TaskOOM is containerd.events.TaskOOM.
type TaskOOM struct {
	ContainerID string
}

func (*TaskOOM) Topic() string   { return "/tasks/oom" }
func (*TaskOOM) TypeURL() string { return "containerd.events.TaskOOM" }

func (m *TaskOOM) Marshal() []byte {
	return appendString(nil, 1, m.ContainerID)
}

func (m *TaskOOM) Unmarshal(b []byte) error {
	*m = TaskOOM{}
	return unmarshalError(m.merge(b))
}

func (m *TaskOOM) merge(b []byte) error {
	return decode("TaskOOM", b, func(f *field) {
		if f.num == 1 {
			f.str(&m.ContainerID, "container_id")
		}
	})
}

// TaskExecAdded is containerd.events.TaskExecAdded.
type TaskExecAdded struct {
	ContainerID string
	ExecID      string
}

func (*TaskExecAdded) Topic() string   { return "/tasks/exec-added" }
func (*TaskExecAdded) TypeURL() string { return "containerd.events.TaskExecAdded" }

func (m *TaskExecAdded) Marshal() []byte {
	var b []byte
	b = appendString(b, 1, m.ContainerID)
	b = appendString(b, 2, m.ExecID)
	return b
}

func (m *TaskExecAdded) Unmarshal(b []byte) error {
	*m = TaskExecAdded{}
	return unmarshalError(m.merge(b))
}

func (m *TaskExecAdded) merge(b []byte) error {
	return decode("TaskExecAdded", b, func(f *field) {
		switch f.num {
		case 1:
			f.str(&m.ContainerID, "container_id")
		case 2:
			f.str(&m.ExecID, "exec_id")
		}
	})
}

// TaskExecStarted is containerd.events.TaskExecStarted.
type TaskExecStarted struct {
	ContainerID string
	ExecID      string
	Pid         uint32
}

func (*TaskExecStarted) Topic() string   { return "/tasks/exec-started" }
func (*TaskExecStarted) TypeURL() string { return "containerd.events.TaskExecStarted" }

func (m *TaskExecStarted) Marshal() []byte {
	var b []byte
	b = appendString(b, 1, m.ContainerID)
	b = appendString(b, 2, m.ExecID)
	b = appendVarint(b, 3, uint64(m.Pid))
	return b
}

func (m *TaskExecStarted) Unmarshal(b []byte) error {
	*m = TaskExecStarted{}
	return unmarshalError(m.merge(b))
}

func (m *TaskExecStarted) merge(b []byte) error {
	return decode("TaskExecStarted", b, func(f *field) {
		switch f.num {
		case 1:
			f.str(&m.ContainerID, "container_id")
		case 2:
			f.str(&m.ExecID, "exec_id")
		case 3:
			f.uint32(&m.Pid, "pid")
		}
	})
}

// TaskPaused is containerd.events.TaskPaused.
type TaskPaused struct {
	ContainerID string
}

func (*TaskPaused) Topic() string   { return "/tasks/paused" }
func (*TaskPaused) TypeURL() string { return "containerd.events.TaskPaused" }

func (m *TaskPaused) Marshal() []byte {
	return appendString(nil, 1, m.ContainerID)
}

func (m *TaskPaused) Unmarshal(b []byte) error {
	*m = TaskPaused{}
	return unmarshalError(m.merge(b))
}

func (m *TaskPaused) merge(b []byte) error {
	return decode("TaskPaused", b, func(f *field) {
		if f.num == 1 {
			f.str(&m.ContainerID, "container_id")
		}
	})
}

// TaskResumed is containerd.events.TaskResumed.
type TaskResumed struct {
	ContainerID string
}

func (*TaskResumed) Topic() string   { return "/tasks/resumed" }
func (*TaskResumed) TypeURL() string { return "containerd.events.TaskResumed" }

func (m *TaskResumed) Marshal() []byte {
	return appendString(nil, 1, m.ContainerID)
}

func (m *TaskResumed) Unmarshal(b []byte) error {
	*m = TaskResumed{}
	return unmarshalError(m.merge(b))
}

func (m *TaskResumed) merge(b []byte) error {
	return decode("TaskResumed", b, func(f *field) {
		if f.num == 1 {
			f.str(&m.ContainerID, "container_id")
		}
	})
}

// TaskCheckpointed is containerd.events.TaskCheckpointed.
type TaskCheckpointed struct {
	ContainerID string
	Checkpoint  string
}

func (*TaskCheckpointed) Topic() string   { return "/tasks/checkpointed" }
func (*TaskCheckpointed) TypeURL() string { return "containerd.events.TaskCheckpointed" }

func (m *TaskCheckpointed) Marshal() []byte {
	var b []byte
	b = appendString(b, 1, m.ContainerID)
	b = appendString(b, 2, m.Checkpoint)
	return b
}

func (m *TaskCheckpointed) Unmarshal(b []byte) error {
	*m = TaskCheckpointed{}
	return unmarshalError(m.merge(b))
}

func (m *TaskCheckpointed) merge(b []byte) error {
	return decode("TaskCheckpointed", b, func(f *field) {
		switch f.num {
		case 1:
			f.str(&m.ContainerID, "container_id")
		case 2:
			f.str(&m.Checkpoint, "checkpoint")
		}
	})
}
