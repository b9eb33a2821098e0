package taskpb_test

import (
	"testing"

	eventsapi "github.com/containerd/containerd/api/events"
	optionsapi "github.com/containerd/containerd/api/types/runc/options"
	"github.com/containerd/containerd/v2/core/runtime"
	"github.com/containerd/typeurl/v2"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/raind/raind/service/taskpb"
)

func TestEvents(t *testing.T) {
	events := 0
	for _, tc := range cases() {
		e, ok := tc.ours.(taskpb.Event)
		if _, isIO := tc.ours.(*taskpb.TaskIO); isIO {
			if ok {
				t.Error("TaskIO is an Event; it is only part of TaskCreate")
			}
			continue
		}
		if _, isEvent := tc.official.(interface{ GetContainerID() string }); !isEvent || !ok {
			if ok {
				t.Errorf("%s is an Event", tc.name)
			}
			continue
		}
		events++
		t.Run(tc.name, func(t *testing.T) {
			if got, want := e.Topic(), runtime.GetTopic(tc.official); got != want || want == runtime.TaskUnknownTopic {
				t.Errorf("Topic() = %q, want %q", got, want)
			}
			want, err := typeurl.TypeURL(tc.official)
			if err != nil {
				t.Fatal(err)
			}
			if got := e.TypeURL(); got != want {
				t.Errorf("TypeURL() = %q, want %q", got, want)
			}

			// containerd unpacks what MarshalEvent packs into its own type.
			a := taskpb.MarshalEvent(e)
			v, err := typeurl.UnmarshalAny(&anypb.Any{TypeUrl: a.TypeURL, Value: a.Value})
			if err != nil {
				t.Fatal(err)
			}
			if m, ok := v.(proto.Message); !ok || !proto.Equal(m, tc.official) {
				t.Errorf("unpacked %v, want %v", v, tc.official)
			}
		})
	}
	if events != 10 {
		t.Errorf("%d events tested, want 10", events)
	}
	// Every event of events/task.proto but TaskIO.
	for _, e := range []any{&eventsapi.TaskCreate{}, &eventsapi.TaskStart{}, &eventsapi.TaskDelete{}, &eventsapi.TaskExit{},
		&eventsapi.TaskOOM{}, &eventsapi.TaskExecAdded{}, &eventsapi.TaskExecStarted{}, &eventsapi.TaskPaused{},
		&eventsapi.TaskResumed{}, &eventsapi.TaskCheckpointed{}} {
		if runtime.GetTopic(e) == runtime.TaskUnknownTopic {
			t.Errorf("%T has no topic", e)
		}
	}
}

func TestProcessDetailsTypeURL(t *testing.T) {
	want, err := typeurl.TypeURL(&optionsapi.ProcessDetails{})
	if err != nil {
		t.Fatal(err)
	}
	if got := new(taskpb.ProcessDetails).TypeURL(); got != want {
		t.Errorf("TypeURL() = %q, want %q", got, want)
	}
}
