package service

import (
	eventsapi "github.com/containerd/containerd/api/events"
	"google.golang.org/protobuf/proto"
)

// topic is the topic containerd files an event of the task API under (the
// names of containerd's runtime package, which the shim does not link).
func topic(e proto.Message) string {
	switch e.(type) {
	case *eventsapi.TaskCreate:
		return "/tasks/create"
	case *eventsapi.TaskStart:
		return "/tasks/start"
	case *eventsapi.TaskExit:
		return "/tasks/exit"
	case *eventsapi.TaskDelete:
		return "/tasks/delete"
	case *eventsapi.TaskOOM:
		return "/tasks/oom"
	case *eventsapi.TaskExecAdded:
		return "/tasks/exec-added"
	case *eventsapi.TaskExecStarted:
		return "/tasks/exec-started"
	case *eventsapi.TaskPaused:
		return "/tasks/paused"
	case *eventsapi.TaskResumed:
		return "/tasks/resumed"
	case *eventsapi.TaskCheckpointed:
		return "/tasks/checkpointed"
	}
	return "/tasks/?"
}
