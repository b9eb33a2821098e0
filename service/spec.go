package service

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/containerd/errdefs"
)

// refusal turns "raind does not implement this part of the spec" into
// InvalidArgument for Create and Exec: containerd reads Unimplemented from
// those calls as "this task API version is not served" and loses the
// message.
func refusal(err error) error {
	if errdefs.IsNotImplemented(err) {
		return fmt.Errorf("not supported by raind: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	return err
}

// readSpecFile reads the bundle's config.json.
func readSpecFile(bundle string) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("bundle %s has no config.json: %w", bundle, errdefs.ErrNotFound)
		}
		return nil, fmt.Errorf("read config.json: %w", err)
	}
	return b, nil
}

// readSpecPart decodes part of the bundle's config.json into v, a struct
// with only the fields wanted: the short-lived start and delete actions
// need an annotation or the cgroup path, and should not refuse a spec for
// anything else.
func readSpecPart(bundle string, v any) error {
	b, err := readSpecFile(bundle)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("parse %s/config.json: %v: %w", bundle, err, errdefs.ErrInvalidArgument)
	}
	return nil
}
