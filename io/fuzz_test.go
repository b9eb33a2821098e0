package stdio

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/containerd/errdefs"
)

// FuzzLogURI: no stdout URI panics the parser; a refusal is
// InvalidArgument; what is accepted is a FIFO path (taken as given) or a
// binary:// or file:// URI with an absolute path, and a binary logger's
// arguments come from its query alone. Parsing only: no logger runs and
// no file is opened.
func FuzzLogURI(f *testing.F) {
	for _, s := range []string{
		"", "/run/containerd/fifo/stdout", "fifo:///run/x", "binary:///usr/bin/logger?id=1&ns=default&flag",
		"file:///var/log/c.log", "file://relative", "binary://host/path?%zz", "http://example.com/x",
		"binary:", "file:///a%2fb?x=1&x=2&=v", "/p%zz", "::", "binary:///l?a&b=&c=d;e",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := parseTarget(s)
		if err != nil {
			if !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Fatalf("%q: %v, want InvalidArgument", s, err)
			}
			return
		}
		switch u.Scheme {
		case "":
			if u.Path != s {
				t.Fatalf("%q: FIFO path %q", s, u.Path)
			}
		case "binary", "file":
			if !filepath.IsAbs(u.Path) {
				t.Fatalf("%q: %s path %q is not absolute", s, u.Scheme, u.Path)
			}
			args := loggerArgs(u)
			q := u.Query()
			for _, a := range args {
				if _, key := q[a]; !key && !queryValue(q, a) {
					t.Fatalf("%q: argument %q is not from the query %v", s, a, q)
				}
			}
		default:
			t.Fatalf("%q: accepted scheme %q", s, u.Scheme)
		}
	})
}

// queryValue reports whether v is the first value of a key in q.
func queryValue(q map[string][]string, v string) bool {
	for _, vs := range q {
		if len(vs) > 0 && vs[0] == v {
			return true
		}
	}
	return false
}
