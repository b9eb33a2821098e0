package taskpb

import "time"

// TaskService is the ttrpc service the shim serves to containerd.
const TaskService = "containerd.task.v3.Task"

// CreateTaskRequest is containerd.task.v3.CreateTaskRequest.
type CreateTaskRequest struct {
	ID               string
	Bundle           string
	Rootfs           []*Mount
	Terminal         bool
	Stdin            string
	Stdout           string
	Stderr           string
	Checkpoint       string
	ParentCheckpoint string
	Options          *Any
}

func (m *CreateTaskRequest) Marshal() []byte {
	var b []byte
	b = appendString(b, 1, m.ID)
	b = appendString(b, 2, m.Bundle)
	b = appendMessages(b, 3, m.Rootfs)
	b = appendBool(b, 4, m.Terminal)
	b = appendString(b, 5, m.Stdin)
	b = appendString(b, 6, m.Stdout)
	b = appendString(b, 7, m.Stderr)
	b = appendString(b, 8, m.Checkpoint)
	b = appendString(b, 9, m.ParentCheckpoint)
	b = appendAny(b, 10, m.Options)
	return b
}

func (m *CreateTaskRequest) Unmarshal(b []byte) error {
	*m = CreateTaskRequest{}
	return unmarshalError(m.merge(b))
}

func (m *CreateTaskRequest) merge(b []byte) error {
	return decode("CreateTaskRequest", b, func(f *field) {
		switch f.num {
		case 1:
			f.str(&m.ID, "id")
		case 2:
			f.str(&m.Bundle, "bundle")
		case 3:
			decodeMessages(f, &m.Rootfs, "rootfs")
		case 4:
			f.bool(&m.Terminal, "terminal")
		case 5:
			f.str(&m.Stdin, "stdin")
		case 6:
			f.str(&m.Stdout, "stdout")
		case 7:
			f.str(&m.Stderr, "stderr")
		case 8:
			f.str(&m.Checkpoint, "checkpoint")
		case 9:
			f.str(&m.ParentCheckpoint, "parent_checkpoint")
		case 10:
			f.any(&m.Options, "options")
		}
	})
}

// CreateTaskResponse is containerd.task.v3.CreateTaskResponse.
type CreateTaskResponse struct {
	Pid uint32
}

func (m *CreateTaskResponse) Marshal() []byte {
	return appendVarint(nil, 1, uint64(m.Pid))
}

func (m *CreateTaskResponse) Unmarshal(b []byte) error {
	*m = CreateTaskResponse{}
	return unmarshalError(m.merge(b))
}

func (m *CreateTaskResponse) merge(b []byte) error {
	return decode("CreateTaskResponse", b, func(f *field) {
		if f.num == 1 {
			f.uint32(&m.Pid, "pid")
		}
	})
}

// DeleteRequest is containerd.task.v3.DeleteRequest.
type DeleteRequest struct {
	ID     string
	ExecID string
}

func (m *DeleteRequest) Marshal() []byte { return appendIDs(m.ID, m.ExecID) }

func (m *DeleteRequest) Unmarshal(b []byte) error {
	*m = DeleteRequest{}
	return unmarshalError(m.merge(b))
}

func (m *DeleteRequest) merge(b []byte) error {
	return decodeIDs("DeleteRequest", b, &m.ID, &m.ExecID)
}

// DeleteResponse is containerd.task.v3.DeleteResponse.
type DeleteResponse struct {
	Pid        uint32
	ExitStatus uint32
	ExitedAt   time.Time
}

func (m *DeleteResponse) Marshal() []byte {
	var b []byte
	b = appendVarint(b, 1, uint64(m.Pid))
	b = appendVarint(b, 2, uint64(m.ExitStatus))
	b = appendTime(b, 3, m.ExitedAt)
	return b
}

func (m *DeleteResponse) Unmarshal(b []byte) error {
	*m = DeleteResponse{}
	return unmarshalError(m.merge(b))
}

func (m *DeleteResponse) merge(b []byte) error {
	return decode("DeleteResponse", b, func(f *field) {
		switch f.num {
		case 1:
			f.uint32(&m.Pid, "pid")
		case 2:
			f.uint32(&m.ExitStatus, "exit_status")
		case 3:
			f.time(&m.ExitedAt, "exited_at")
		}
	})
}

// ExecProcessRequest is containerd.task.v3.ExecProcessRequest.
type ExecProcessRequest struct {
	ID       string
	ExecID   string
	Terminal bool
	Stdin    string
	Stdout   string
	Stderr   string
	Spec     *Any
}

func (m *ExecProcessRequest) Marshal() []byte {
	b := appendIDs(m.ID, m.ExecID)
	b = appendBool(b, 3, m.Terminal)
	b = appendString(b, 4, m.Stdin)
	b = appendString(b, 5, m.Stdout)
	b = appendString(b, 6, m.Stderr)
	b = appendAny(b, 7, m.Spec)
	return b
}

func (m *ExecProcessRequest) Unmarshal(b []byte) error {
	*m = ExecProcessRequest{}
	return unmarshalError(m.merge(b))
}

func (m *ExecProcessRequest) merge(b []byte) error {
	return decode("ExecProcessRequest", b, func(f *field) {
		switch f.num {
		case 1:
			f.str(&m.ID, "id")
		case 2:
			f.str(&m.ExecID, "exec_id")
		case 3:
			f.bool(&m.Terminal, "terminal")
		case 4:
			f.str(&m.Stdin, "stdin")
		case 5:
			f.str(&m.Stdout, "stdout")
		case 6:
			f.str(&m.Stderr, "stderr")
		case 7:
			f.any(&m.Spec, "spec")
		}
	})
}

// ExecProcessResponse is containerd.task.v3.ExecProcessResponse.
type ExecProcessResponse struct{}

func (m *ExecProcessResponse) Marshal() []byte { return nil }

func (m *ExecProcessResponse) Unmarshal(b []byte) error {
	return unmarshalError(m.merge(b))
}

func (m *ExecProcessResponse) merge(b []byte) error {
	return decode("ExecProcessResponse", b, func(*field) {})
}

// ResizePtyRequest is containerd.task.v3.ResizePtyRequest.
type ResizePtyRequest struct {
	ID     string
	ExecID string
	Width  uint32
	Height uint32
}

func (m *ResizePtyRequest) Marshal() []byte {
	b := appendIDs(m.ID, m.ExecID)
	b = appendVarint(b, 3, uint64(m.Width))
	b = appendVarint(b, 4, uint64(m.Height))
	return b
}

func (m *ResizePtyRequest) Unmarshal(b []byte) error {
	*m = ResizePtyRequest{}
	return unmarshalError(m.merge(b))
}

func (m *ResizePtyRequest) merge(b []byte) error {
	return decode("ResizePtyRequest", b, func(f *field) {
		switch f.num {
		case 1:
			f.str(&m.ID, "id")
		case 2:
			f.str(&m.ExecID, "exec_id")
		case 3:
			f.uint32(&m.Width, "width")
		case 4:
			f.uint32(&m.Height, "height")
		}
	})
}

// StateRequest is containerd.task.v3.StateRequest.
type StateRequest struct {
	ID     string
	ExecID string
}

func (m *StateRequest) Marshal() []byte { return appendIDs(m.ID, m.ExecID) }

func (m *StateRequest) Unmarshal(b []byte) error {
	*m = StateRequest{}
	return unmarshalError(m.merge(b))
}

func (m *StateRequest) merge(b []byte) error {
	return decodeIDs("StateRequest", b, &m.ID, &m.ExecID)
}

// StateResponse is containerd.task.v3.StateResponse.
type StateResponse struct {
	ID         string
	Bundle     string
	Pid        uint32
	Status     Status
	Stdin      string
	Stdout     string
	Stderr     string
	Terminal   bool
	ExitStatus uint32
	ExitedAt   time.Time
	ExecID     string
}

func (m *StateResponse) Marshal() []byte {
	var b []byte
	b = appendString(b, 1, m.ID)
	b = appendString(b, 2, m.Bundle)
	b = appendVarint(b, 3, uint64(m.Pid))
	b = appendInt32(b, 4, int32(m.Status))
	b = appendString(b, 5, m.Stdin)
	b = appendString(b, 6, m.Stdout)
	b = appendString(b, 7, m.Stderr)
	b = appendBool(b, 8, m.Terminal)
	b = appendVarint(b, 9, uint64(m.ExitStatus))
	b = appendTime(b, 10, m.ExitedAt)
	b = appendString(b, 11, m.ExecID)
	return b
}

func (m *StateResponse) Unmarshal(b []byte) error {
	*m = StateResponse{}
	return unmarshalError(m.merge(b))
}

func (m *StateResponse) merge(b []byte) error {
	return decode("StateResponse", b, func(f *field) {
		switch f.num {
		case 1:
			f.str(&m.ID, "id")
		case 2:
			f.str(&m.Bundle, "bundle")
		case 3:
			f.uint32(&m.Pid, "pid")
		case 4:
			f.int32((*int32)(&m.Status), "status")
		case 5:
			f.str(&m.Stdin, "stdin")
		case 6:
			f.str(&m.Stdout, "stdout")
		case 7:
			f.str(&m.Stderr, "stderr")
		case 8:
			f.bool(&m.Terminal, "terminal")
		case 9:
			f.uint32(&m.ExitStatus, "exit_status")
		case 10:
			f.time(&m.ExitedAt, "exited_at")
		case 11:
			f.str(&m.ExecID, "exec_id")
		}
	})
}

// KillRequest is containerd.task.v3.KillRequest.
type KillRequest struct {
	ID     string
	ExecID string
	Signal uint32
	All    bool
}

func (m *KillRequest) Marshal() []byte {
	b := appendIDs(m.ID, m.ExecID)
	b = appendVarint(b, 3, uint64(m.Signal))
	b = appendBool(b, 4, m.All)
	return b
}

func (m *KillRequest) Unmarshal(b []byte) error {
	*m = KillRequest{}
	return unmarshalError(m.merge(b))
}

func (m *KillRequest) merge(b []byte) error {
	return decode("KillRequest", b, func(f *field) {
		switch f.num {
		case 1:
			f.str(&m.ID, "id")
		case 2:
			f.str(&m.ExecID, "exec_id")
		case 3:
			f.uint32(&m.Signal, "signal")
		case 4:
			f.bool(&m.All, "all")
		}
	})
}

// CloseIORequest is containerd.task.v3.CloseIORequest.
type CloseIORequest struct {
	ID     string
	ExecID string
	Stdin  bool
}

func (m *CloseIORequest) Marshal() []byte {
	return appendBool(appendIDs(m.ID, m.ExecID), 3, m.Stdin)
}

func (m *CloseIORequest) Unmarshal(b []byte) error {
	*m = CloseIORequest{}
	return unmarshalError(m.merge(b))
}

func (m *CloseIORequest) merge(b []byte) error {
	return decode("CloseIORequest", b, func(f *field) {
		switch f.num {
		case 1:
			f.str(&m.ID, "id")
		case 2:
			f.str(&m.ExecID, "exec_id")
		case 3:
			f.bool(&m.Stdin, "stdin")
		}
	})
}

// PidsRequest is containerd.task.v3.PidsRequest.
type PidsRequest struct {
	ID string
}

func (m *PidsRequest) Marshal() []byte { return appendIDs(m.ID, "") }

func (m *PidsRequest) Unmarshal(b []byte) error {
	*m = PidsRequest{}
	return unmarshalError(m.merge(b))
}

func (m *PidsRequest) merge(b []byte) error {
	return decodeIDs("PidsRequest", b, &m.ID, nil)
}

// PidsResponse is containerd.task.v3.PidsResponse.
type PidsResponse struct {
	Processes []*ProcessInfo
}

func (m *PidsResponse) Marshal() []byte {
	return appendMessages(nil, 1, m.Processes)
}

func (m *PidsResponse) Unmarshal(b []byte) error {
	*m = PidsResponse{}
	return unmarshalError(m.merge(b))
}

func (m *PidsResponse) merge(b []byte) error {
	return decode("PidsResponse", b, func(f *field) {
		if f.num == 1 {
			decodeMessages(f, &m.Processes, "processes")
		}
	})
}

// CheckpointTaskRequest is containerd.task.v3.CheckpointTaskRequest.
type CheckpointTaskRequest struct {
	ID      string
	Path    string
	Options *Any
}

func (m *CheckpointTaskRequest) Marshal() []byte {
	var b []byte
	b = appendString(b, 1, m.ID)
	b = appendString(b, 2, m.Path)
	b = appendAny(b, 3, m.Options)
	return b
}

func (m *CheckpointTaskRequest) Unmarshal(b []byte) error {
	*m = CheckpointTaskRequest{}
	return unmarshalError(m.merge(b))
}

func (m *CheckpointTaskRequest) merge(b []byte) error {
	return decode("CheckpointTaskRequest", b, func(f *field) {
		switch f.num {
		case 1:
			f.str(&m.ID, "id")
		case 2:
			f.str(&m.Path, "path")
		case 3:
			f.any(&m.Options, "options")
		}
	})
}

// UpdateTaskRequest is containerd.task.v3.UpdateTaskRequest.
type UpdateTaskRequest struct {
	ID          string
	Resources   *Any
	Annotations map[string]string
}

func (m *UpdateTaskRequest) Marshal() []byte {
	var b []byte
	b = appendString(b, 1, m.ID)
	b = appendAny(b, 2, m.Resources)
	b = appendStringMap(b, 3, m.Annotations)
	return b
}

func (m *UpdateTaskRequest) Unmarshal(b []byte) error {
	*m = UpdateTaskRequest{}
	return unmarshalError(m.merge(b))
}

func (m *UpdateTaskRequest) merge(b []byte) error {
	return decode("UpdateTaskRequest", b, func(f *field) {
		switch f.num {
		case 1:
			f.str(&m.ID, "id")
		case 2:
			f.any(&m.Resources, "resources")
		case 3:
			f.stringMap(&m.Annotations, "annotations")
		}
	})
}

// StartRequest is containerd.task.v3.StartRequest.
type StartRequest struct {
	ID     string
	ExecID string
}

func (m *StartRequest) Marshal() []byte { return appendIDs(m.ID, m.ExecID) }

func (m *StartRequest) Unmarshal(b []byte) error {
	*m = StartRequest{}
	return unmarshalError(m.merge(b))
}

func (m *StartRequest) merge(b []byte) error {
	return decodeIDs("StartRequest", b, &m.ID, &m.ExecID)
}

// StartResponse is containerd.task.v3.StartResponse.
type StartResponse struct {
	Pid uint32
}

func (m *StartResponse) Marshal() []byte {
	return appendVarint(nil, 1, uint64(m.Pid))
}

func (m *StartResponse) Unmarshal(b []byte) error {
	*m = StartResponse{}
	return unmarshalError(m.merge(b))
}

func (m *StartResponse) merge(b []byte) error {
	return decode("StartResponse", b, func(f *field) {
		if f.num == 1 {
			f.uint32(&m.Pid, "pid")
		}
	})
}

// WaitRequest is containerd.task.v3.WaitRequest.
type WaitRequest struct {
	ID     string
	ExecID string
}

func (m *WaitRequest) Marshal() []byte { return appendIDs(m.ID, m.ExecID) }

func (m *WaitRequest) Unmarshal(b []byte) error {
	*m = WaitRequest{}
	return unmarshalError(m.merge(b))
}

func (m *WaitRequest) merge(b []byte) error {
	return decodeIDs("WaitRequest", b, &m.ID, &m.ExecID)
}

// WaitResponse is containerd.task.v3.WaitResponse.
type WaitResponse struct {
	ExitStatus uint32
	ExitedAt   time.Time
}

func (m *WaitResponse) Marshal() []byte {
	var b []byte
	b = appendVarint(b, 1, uint64(m.ExitStatus))
	b = appendTime(b, 2, m.ExitedAt)
	return b
}

func (m *WaitResponse) Unmarshal(b []byte) error {
	*m = WaitResponse{}
	return unmarshalError(m.merge(b))
}

func (m *WaitResponse) merge(b []byte) error {
	return decode("WaitResponse", b, func(f *field) {
		switch f.num {
		case 1:
			f.uint32(&m.ExitStatus, "exit_status")
		case 2:
			f.time(&m.ExitedAt, "exited_at")
		}
	})
}

// StatsRequest is containerd.task.v3.StatsRequest.
type StatsRequest struct {
	ID string
}

func (m *StatsRequest) Marshal() []byte { return appendIDs(m.ID, "") }

func (m *StatsRequest) Unmarshal(b []byte) error {
	*m = StatsRequest{}
	return unmarshalError(m.merge(b))
}

func (m *StatsRequest) merge(b []byte) error {
	return decodeIDs("StatsRequest", b, &m.ID, nil)
}

// StatsResponse is containerd.task.v3.StatsResponse.
type StatsResponse struct {
	Stats *Any
}

func (m *StatsResponse) Marshal() []byte {
	return appendAny(nil, 1, m.Stats)
}

func (m *StatsResponse) Unmarshal(b []byte) error {
	*m = StatsResponse{}
	return unmarshalError(m.merge(b))
}

func (m *StatsResponse) merge(b []byte) error {
	return decode("StatsResponse", b, func(f *field) {
		if f.num == 1 {
			f.any(&m.Stats, "stats")
		}
	})
}

// ConnectRequest is containerd.task.v3.ConnectRequest.
type ConnectRequest struct {
	ID string
}

func (m *ConnectRequest) Marshal() []byte { return appendIDs(m.ID, "") }

func (m *ConnectRequest) Unmarshal(b []byte) error {
	*m = ConnectRequest{}
	return unmarshalError(m.merge(b))
}

func (m *ConnectRequest) merge(b []byte) error {
	return decodeIDs("ConnectRequest", b, &m.ID, nil)
}

// ConnectResponse is containerd.task.v3.ConnectResponse.
type ConnectResponse struct {
	ShimPid uint32
	TaskPid uint32
	Version string
}

func (m *ConnectResponse) Marshal() []byte {
	var b []byte
	b = appendVarint(b, 1, uint64(m.ShimPid))
	b = appendVarint(b, 2, uint64(m.TaskPid))
	b = appendString(b, 3, m.Version)
	return b
}

func (m *ConnectResponse) Unmarshal(b []byte) error {
	*m = ConnectResponse{}
	return unmarshalError(m.merge(b))
}

func (m *ConnectResponse) merge(b []byte) error {
	return decode("ConnectResponse", b, func(f *field) {
		switch f.num {
		case 1:
			f.uint32(&m.ShimPid, "shim_pid")
		case 2:
			f.uint32(&m.TaskPid, "task_pid")
		case 3:
			f.str(&m.Version, "version")
		}
	})
}

// ShutdownRequest is containerd.task.v3.ShutdownRequest.
type ShutdownRequest struct {
	ID  string
	Now bool
}

func (m *ShutdownRequest) Marshal() []byte {
	return appendBool(appendIDs(m.ID, ""), 2, m.Now)
}

func (m *ShutdownRequest) Unmarshal(b []byte) error {
	*m = ShutdownRequest{}
	return unmarshalError(m.merge(b))
}

func (m *ShutdownRequest) merge(b []byte) error {
	return decode("ShutdownRequest", b, func(f *field) {
		switch f.num {
		case 1:
			f.str(&m.ID, "id")
		case 2:
			f.bool(&m.Now, "now")
		}
	})
}

// PauseRequest is containerd.task.v3.PauseRequest.
type PauseRequest struct {
	ID string
}

func (m *PauseRequest) Marshal() []byte { return appendIDs(m.ID, "") }

func (m *PauseRequest) Unmarshal(b []byte) error {
	*m = PauseRequest{}
	return unmarshalError(m.merge(b))
}

func (m *PauseRequest) merge(b []byte) error {
	return decodeIDs("PauseRequest", b, &m.ID, nil)
}

// ResumeRequest is containerd.task.v3.ResumeRequest.
type ResumeRequest struct {
	ID string
}

func (m *ResumeRequest) Marshal() []byte { return appendIDs(m.ID, "") }

func (m *ResumeRequest) Unmarshal(b []byte) error {
	*m = ResumeRequest{}
	return unmarshalError(m.merge(b))
}

func (m *ResumeRequest) merge(b []byte) error {
	return decodeIDs("ResumeRequest", b, &m.ID, nil)
}

// Most task requests are, or start with, "string id = 1; string exec_id
// = 2;"; appendIDs and decodeIDs cover the messages made of nothing else.

func appendIDs(id, execID string) []byte {
	return appendString(appendString(nil, 1, id), 2, execID)
}

// decodeIDs leaves field 2 unknown when execID is nil, for the requests
// that carry only an id.
func decodeIDs(msg string, b []byte, id, execID *string) error {
	return decode(msg, b, func(f *field) {
		switch {
		case f.num == 1:
			f.str(id, "id")
		case f.num == 2 && execID != nil:
			f.str(execID, "exec_id")
		}
	})
}
