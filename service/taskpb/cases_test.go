package taskpb_test

import (
	"time"

	eventsapi "github.com/containerd/containerd/api/events"
	bootstrapapi "github.com/containerd/containerd/api/runtime/bootstrap/v1"
	taskapi "github.com/containerd/containerd/api/runtime/task/v3"
	eventsvcapi "github.com/containerd/containerd/api/services/ttrpc/events/v1"
	typesapi "github.com/containerd/containerd/api/types"
	optionsapi "github.com/containerd/containerd/api/types/runc/options"
	tasktypesapi "github.com/containerd/containerd/api/types/task"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/raind/raind/service/taskpb"
)

// testCase pairs a generated message with the taskpb value that must
// encode to the same bytes.
type testCase struct {
	name     string
	official proto.Message
	ours     taskpb.Message
}

var (
	when     = time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
	whenPB   = timestamppb.New(when)
	before   = time.Date(1969, 7, 20, 20, 17, 40, 5, time.UTC) // negative seconds
	beforePB = timestamppb.New(before)
)

func anyPB(n byte) *anypb.Any {
	return &anypb.Any{TypeUrl: "example.com/type." + string('A'+n), Value: []byte{n, 0, 0xff, n}}
}

func anyOurs(n byte) *taskpb.Any {
	return &taskpb.Any{TypeURL: "example.com/type." + string('A'+n), Value: []byte{n, 0, 0xff, n}}
}

func mountsPB() []*typesapi.Mount {
	return []*typesapi.Mount{
		{Type: "overlay", Source: "overlay", Target: "/rootfs", Options: []string{"lowerdir=/a", "upperdir=/b"}},
		{Type: "bind", Source: "/src", Target: "/dst", Options: []string{"rbind", ""}},
	}
}

func mountsOurs() []*taskpb.Mount {
	return []*taskpb.Mount{
		{Type: "overlay", Source: "overlay", Target: "/rootfs", Options: []string{"lowerdir=/a", "upperdir=/b"}},
		{Type: "bind", Source: "/src", Target: "/dst", Options: []string{"rbind", ""}},
	}
}

func extensionsPB() []*bootstrapapi.Extension {
	return []*bootstrapapi.Extension{{Value: anyPB(5)}, {Value: anyPB(6)}}
}

func extensionsOurs() []*taskpb.Extension {
	return []*taskpb.Extension{{Value: anyOurs(5)}, {Value: anyOurs(6)}}
}

// A map with an empty key and an empty value checks that map entries keep
// both fields even when they are empty.
func mapOf() map[string]string {
	return map[string]string{"io.example/b": "two", "io.example/a": "one", "": ""}
}

func ptr[T any](v T) *T { return &v }

// cases has every message with every field set. Strings differ from field
// to field so that a swapped field cannot go unnoticed.
func cases() []testCase {
	return []testCase{
		{"Any", anyPB(1), anyOurs(1)},
		{"Empty", &emptypb.Empty{}, &taskpb.Empty{}},
		{"Mount", mountsPB()[0], mountsOurs()[0]},
		{"ProcessInfo",
			&tasktypesapi.ProcessInfo{Pid: 42, Info: anyPB(2)},
			&taskpb.ProcessInfo{Pid: 42, Info: anyOurs(2)}},
		{"ProcessDetails",
			&optionsapi.ProcessDetails{ExecID: "exec-1"},
			&taskpb.ProcessDetails{ExecID: "exec-1"}},
		{"RuntimeVersion",
			&typesapi.RuntimeVersion{Version: "v1.2.3", Revision: "abcdef"},
			&taskpb.RuntimeVersion{Version: "v1.2.3", Revision: "abcdef"}},
		{"RuntimeInfo",
			&typesapi.RuntimeInfo{
				Name:        "io.containerd.raind.v2",
				Version:     &typesapi.RuntimeVersion{Version: "v1", Revision: "r"},
				Options:     anyPB(3),
				Features:    anyPB(4),
				Annotations: mapOf(),
			},
			&taskpb.RuntimeInfo{
				Name:        "io.containerd.raind.v2",
				Version:     &taskpb.RuntimeVersion{Version: "v1", Revision: "r"},
				Options:     anyOurs(3),
				Features:    anyOurs(4),
				Annotations: mapOf(),
			}},
		{"Envelope",
			&typesapi.Envelope{Timestamp: whenPB, Namespace: "default", Topic: "/tasks/exit", Event: anyPB(1)},
			&taskpb.Envelope{Timestamp: when, Namespace: "default", Topic: "/tasks/exit", Event: anyOurs(1)}},
		{"ForwardRequest",
			&eventsvcapi.ForwardRequest{Envelope: &typesapi.Envelope{Timestamp: beforePB, Namespace: "k8s.io", Topic: "/tasks/oom", Event: anyPB(2)}},
			&taskpb.ForwardRequest{Envelope: &taskpb.Envelope{Timestamp: before, Namespace: "k8s.io", Topic: "/tasks/oom", Event: anyOurs(2)}}},
		{"BootstrapParams",
			&bootstrapapi.BootstrapParams{
				InstanceID:             "instance",
				Namespace:              "ns",
				LogLevel:               bootstrapapi.LogLevel_LOG_LEVEL_TRACE,
				ContainerdVersion:      "v2.4.2",
				ContainerdTtrpcAddress: "/run/containerd/containerd.sock.ttrpc",
				ContainerdGrpcAddress:  "/run/containerd/containerd.sock",
				ContainerdBinary:       "/usr/bin/containerd",
				Extensions:             extensionsPB(),
				SocketDir:              ptr("/run/containerd/s"),
			},
			&taskpb.BootstrapParams{
				InstanceID:             "instance",
				Namespace:              "ns",
				LogLevel:               taskpb.LogLevelTrace,
				ContainerdVersion:      "v2.4.2",
				ContainerdTtrpcAddress: "/run/containerd/containerd.sock.ttrpc",
				ContainerdGrpcAddress:  "/run/containerd/containerd.sock",
				ContainerdBinary:       "/usr/bin/containerd",
				Extensions:             extensionsOurs(),
				SocketDir:              "/run/containerd/s",
			}},
		{"BootstrapParamsPanic",
			&bootstrapapi.BootstrapParams{LogLevel: bootstrapapi.LogLevel_LOG_LEVEL_PANIC},
			&taskpb.BootstrapParams{LogLevel: taskpb.LogLevelPanic}},
		{"Extension", extensionsPB()[0], extensionsOurs()[0]},
		{"BootstrapResult",
			&bootstrapapi.BootstrapResult{
				Version:      -3,
				Address:      "unix:///run/s.sock",
				Protocol:     "ttrpc",
				Capabilities: []bootstrapapi.Capability{0, 7, -1},
				Metadata:     mapOf(),
				Extensions:   extensionsPB(),
			},
			&taskpb.BootstrapResult{
				Version:      -3,
				Address:      "unix:///run/s.sock",
				Protocol:     "ttrpc",
				Capabilities: []int32{0, 7, -1},
				Metadata:     mapOf(),
				Extensions:   extensionsOurs(),
			}},

		{"TaskCreate",
			&eventsapi.TaskCreate{
				ContainerID: "c1", Bundle: "/b", Rootfs: mountsPB(),
				IO:         &eventsapi.TaskIO{Stdin: "i", Stdout: "o", Stderr: "e", Terminal: true},
				Checkpoint: "/cp", Pid: 77,
			},
			&taskpb.TaskCreate{
				ContainerID: "c1", Bundle: "/b", Rootfs: mountsOurs(),
				IO:         &taskpb.TaskIO{Stdin: "i", Stdout: "o", Stderr: "e", Terminal: true},
				Checkpoint: "/cp", Pid: 77,
			}},
		{"TaskStart",
			&eventsapi.TaskStart{ContainerID: "c1", Pid: 1 << 31},
			&taskpb.TaskStart{ContainerID: "c1", Pid: 1 << 31}},
		{"TaskDelete",
			&eventsapi.TaskDelete{ContainerID: "c1", Pid: 2, ExitStatus: 137, ExitedAt: whenPB, ID: "e1"},
			&taskpb.TaskDelete{ContainerID: "c1", Pid: 2, ExitStatus: 137, ExitedAt: when, ID: "e1"}},
		{"TaskIO",
			&eventsapi.TaskIO{Stdin: "i", Stdout: "o", Stderr: "e", Terminal: true},
			&taskpb.TaskIO{Stdin: "i", Stdout: "o", Stderr: "e", Terminal: true}},
		{"TaskExit",
			&eventsapi.TaskExit{ContainerID: "c1", ID: "e1", Pid: 3, ExitStatus: 255, ExitedAt: beforePB},
			&taskpb.TaskExit{ContainerID: "c1", ID: "e1", Pid: 3, ExitStatus: 255, ExitedAt: before}},
		{"TaskOOM", &eventsapi.TaskOOM{ContainerID: "c1"}, &taskpb.TaskOOM{ContainerID: "c1"}},
		{"TaskExecAdded",
			&eventsapi.TaskExecAdded{ContainerID: "c1", ExecID: "e1"},
			&taskpb.TaskExecAdded{ContainerID: "c1", ExecID: "e1"}},
		{"TaskExecStarted",
			&eventsapi.TaskExecStarted{ContainerID: "c1", ExecID: "e1", Pid: 4},
			&taskpb.TaskExecStarted{ContainerID: "c1", ExecID: "e1", Pid: 4}},
		{"TaskPaused", &eventsapi.TaskPaused{ContainerID: "c1"}, &taskpb.TaskPaused{ContainerID: "c1"}},
		{"TaskResumed", &eventsapi.TaskResumed{ContainerID: "c1"}, &taskpb.TaskResumed{ContainerID: "c1"}},
		{"TaskCheckpointed",
			&eventsapi.TaskCheckpointed{ContainerID: "c1", Checkpoint: "sha256:0"},
			&taskpb.TaskCheckpointed{ContainerID: "c1", Checkpoint: "sha256:0"}},

		{"CreateTaskRequest",
			&taskapi.CreateTaskRequest{
				ID: "c1", Bundle: "/b", Rootfs: mountsPB(), Terminal: true,
				Stdin: "i", Stdout: "o", Stderr: "e", Checkpoint: "/cp", ParentCheckpoint: "/pcp",
				Options: anyPB(7),
			},
			&taskpb.CreateTaskRequest{
				ID: "c1", Bundle: "/b", Rootfs: mountsOurs(), Terminal: true,
				Stdin: "i", Stdout: "o", Stderr: "e", Checkpoint: "/cp", ParentCheckpoint: "/pcp",
				Options: anyOurs(7),
			}},
		{"CreateTaskResponse", &taskapi.CreateTaskResponse{Pid: 5}, &taskpb.CreateTaskResponse{Pid: 5}},
		{"DeleteRequest",
			&taskapi.DeleteRequest{ID: "c1", ExecID: "e1"},
			&taskpb.DeleteRequest{ID: "c1", ExecID: "e1"}},
		{"DeleteResponse",
			&taskapi.DeleteResponse{Pid: 6, ExitStatus: 1, ExitedAt: whenPB},
			&taskpb.DeleteResponse{Pid: 6, ExitStatus: 1, ExitedAt: when}},
		{"ExecProcessRequest",
			&taskapi.ExecProcessRequest{ID: "c1", ExecID: "e1", Terminal: true, Stdin: "i", Stdout: "o", Stderr: "e", Spec: anyPB(8)},
			&taskpb.ExecProcessRequest{ID: "c1", ExecID: "e1", Terminal: true, Stdin: "i", Stdout: "o", Stderr: "e", Spec: anyOurs(8)}},
		{"ExecProcessResponse", &taskapi.ExecProcessResponse{}, &taskpb.ExecProcessResponse{}},
		{"ResizePtyRequest",
			&taskapi.ResizePtyRequest{ID: "c1", ExecID: "e1", Width: 80, Height: 24},
			&taskpb.ResizePtyRequest{ID: "c1", ExecID: "e1", Width: 80, Height: 24}},
		{"StateRequest",
			&taskapi.StateRequest{ID: "c1", ExecID: "e1"},
			&taskpb.StateRequest{ID: "c1", ExecID: "e1"}},
		{"StateResponse",
			&taskapi.StateResponse{
				ID: "c1", Bundle: "/b", Pid: 7, Status: tasktypesapi.Status_PAUSING,
				Stdin: "i", Stdout: "o", Stderr: "e", Terminal: true, ExitStatus: 9,
				ExitedAt: whenPB, ExecID: "e1",
			},
			&taskpb.StateResponse{
				ID: "c1", Bundle: "/b", Pid: 7, Status: taskpb.StatusPausing,
				Stdin: "i", Stdout: "o", Stderr: "e", Terminal: true, ExitStatus: 9,
				ExitedAt: when, ExecID: "e1",
			}},
		{"KillRequest",
			&taskapi.KillRequest{ID: "c1", ExecID: "e1", Signal: 9, All: true},
			&taskpb.KillRequest{ID: "c1", ExecID: "e1", Signal: 9, All: true}},
		{"CloseIORequest",
			&taskapi.CloseIORequest{ID: "c1", ExecID: "e1", Stdin: true},
			&taskpb.CloseIORequest{ID: "c1", ExecID: "e1", Stdin: true}},
		{"PidsRequest", &taskapi.PidsRequest{ID: "c1"}, &taskpb.PidsRequest{ID: "c1"}},
		{"PidsResponse",
			&taskapi.PidsResponse{Processes: []*tasktypesapi.ProcessInfo{{Pid: 1, Info: anyPB(9)}, {Pid: 2}}},
			&taskpb.PidsResponse{Processes: []*taskpb.ProcessInfo{{Pid: 1, Info: anyOurs(9)}, {Pid: 2}}}},
		{"CheckpointTaskRequest",
			&taskapi.CheckpointTaskRequest{ID: "c1", Path: "/cp", Options: anyPB(10)},
			&taskpb.CheckpointTaskRequest{ID: "c1", Path: "/cp", Options: anyOurs(10)}},
		{"UpdateTaskRequest",
			&taskapi.UpdateTaskRequest{ID: "c1", Resources: anyPB(11), Annotations: mapOf()},
			&taskpb.UpdateTaskRequest{ID: "c1", Resources: anyOurs(11), Annotations: mapOf()}},
		{"StartRequest",
			&taskapi.StartRequest{ID: "c1", ExecID: "e1"},
			&taskpb.StartRequest{ID: "c1", ExecID: "e1"}},
		{"StartResponse", &taskapi.StartResponse{Pid: 8}, &taskpb.StartResponse{Pid: 8}},
		{"WaitRequest",
			&taskapi.WaitRequest{ID: "c1", ExecID: "e1"},
			&taskpb.WaitRequest{ID: "c1", ExecID: "e1"}},
		{"WaitResponse",
			&taskapi.WaitResponse{ExitStatus: 2, ExitedAt: whenPB},
			&taskpb.WaitResponse{ExitStatus: 2, ExitedAt: when}},
		{"StatsRequest", &taskapi.StatsRequest{ID: "c1"}, &taskpb.StatsRequest{ID: "c1"}},
		{"StatsResponse", &taskapi.StatsResponse{Stats: anyPB(12)}, &taskpb.StatsResponse{Stats: anyOurs(12)}},
		{"ConnectRequest", &taskapi.ConnectRequest{ID: "c1"}, &taskpb.ConnectRequest{ID: "c1"}},
		{"ConnectResponse",
			&taskapi.ConnectResponse{ShimPid: 10, TaskPid: 11, Version: "v3"},
			&taskpb.ConnectResponse{ShimPid: 10, TaskPid: 11, Version: "v3"}},
		{"ShutdownRequest",
			&taskapi.ShutdownRequest{ID: "c1", Now: true},
			&taskpb.ShutdownRequest{ID: "c1", Now: true}},
		{"PauseRequest", &taskapi.PauseRequest{ID: "c1"}, &taskpb.PauseRequest{ID: "c1"}},
		{"ResumeRequest", &taskapi.ResumeRequest{ID: "c1"}, &taskpb.ResumeRequest{ID: "c1"}},
	}
}
