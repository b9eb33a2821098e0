package main

import (
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// imageSpec is one image and every name critest pulls it by. Images that
// critest removes must differ from every other (a marker file or their
// config makes them so): removing one name removes every name of its image.
type imageSpec struct {
	refs  []string
	about string
	files []file // added in a layer above the busybox rootfs
	user  string
	entry []string
	cmd   []string
	env   []string
}

const (
	e2e     = "registry.k8s.io/e2e-test-images/"
	criTest = "gcr.io/k8s-staging-cri-tools/"
)

// imageSpecs lists what critest v1.37.0 pulls (pkg/validate/consts.go,
// pkg/framework/util.go, and the tests that name an image themselves),
// with what each test expects of it.
func imageSpecs() []imageSpec {
	specs := []imageSpec{
		{refs: []string{e2e + "busybox:1.29-2"}, about: "the default test image: the busybox rootfs, busybox's users, pgrep and ipcs",
			files: appletStandIns(), cmd: []string{"sh"}},
		{refs: []string{e2e + "nginx:1.14-2"}, about: "web server: busybox httpd on port 80 under an nginx stand-in script (pid file, comm and title of nginx)",
			files: nginxFiles(), cmd: []string{"nginx", "-g", "daemon off;"}},
		{refs: []string{criTest + "hostnet-nginx-amd64:latest"}, about: "the same web server on port 12003, for host-network pods",
			files: nginxFiles(), cmd: []string{"nginx", "-g", "daemon off;"}, env: []string{"NGINX_PORT=12003"}},
		{refs: []string{e2e + "httpd:2.4.39-4"}, about: "busybox httpd on port 80, logging a line with \"httpd\"",
			files: httpdFiles(), cmd: []string{"httpd-foreground"}},
		{refs: []string{e2e + "nonewprivs:1.3"}, about: "a setuid-root program printing \"Effective uid: N\"",
			files: []file{{path: "usr/local/bin/nnp", mode: 0o4755, fromNNP: true}}, cmd: []string{"/usr/local/bin/nnp"}},
		{refs: []string{"registry.k8s.io/pause:3.9", "k8s.gcr.io/pause:3.9"}, about: "one image under two registries' names (only pulled and removed)",
			files: []file{marker("pause-3.9")}, cmd: []string{"sh"}},
		{refs: []string{criTest + "test-image-user-uid:latest"}, about: "USER 1002", user: "1002", files: []file{marker("user-uid")}, cmd: []string{"sh"}},
		{refs: []string{criTest + "test-image-user-username:latest"}, about: "USER www-data", user: "www-data", files: []file{marker("user-username")}, cmd: []string{"sh"}},
		{refs: []string{criTest + "test-image-user-uid-group:latest"}, about: "USER 1003:1004", user: "1003:1004", files: []file{marker("user-uid-group")}, cmd: []string{"sh"}},
		{refs: []string{criTest + "test-image-user-username-group:latest"}, about: "USER www-data:1004", user: "www-data:1004", files: []file{marker("user-username-group")}, cmd: []string{"sh"}},
		{refs: []string{criTest + "test-image-predefined-group:latest"}, about: "USER 1000: default-user (uid 1000), also in group-defined-in-image (gid 50000)",
			user: "1000", files: predefinedGroupFiles(), cmd: []string{"sh"}},
		{refs: []string{criTest + "test-image-tags:1", criTest + "test-image-tags:2", criTest + "test-image-tags:3"}, about: "one image, three tags",
			files: []file{marker("same-image")}, cmd: []string{"sh"}},
	}
	for _, n := range []string{"test-image-latest:latest", "test-image-1:latest", "test-image-2:latest", "test-image-3:latest", "test-image-tag:test", "test-image-tag:all"} {
		specs = append(specs, imageSpec{refs: []string{criTest + n}, about: "a file /" + markerName(n) + " makes it an image of its own",
			files: []file{marker(markerName(n))}, cmd: []string{"sh"}})
	}
	return specs
}

// markerName is the file upstream's image-test Dockerfile adds: the
// image's name, or for test-image-tag its tag.
func markerName(ref string) string {
	repo, tag, _ := strings.Cut(ref, ":")
	if repo == "test-image-tag" {
		return tag
	}
	return repo
}

func marker(n string) file { return file{path: n, mode: 0o644, data: ""} }

// busybox's own users, as in the busybox images upstream's test images
// derive from; the tests name www-data.
const (
	busyboxPasswd = `root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
sync:x:4:100:sync:/bin:/bin/sync
mail:x:8:8:mail:/var/spool/mail:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
operator:x:37:37:Operator:/var:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
`
	busyboxGroup = `root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
lp:x:7:
mail:x:8:
kmem:x:9:
wheel:x:10:root
cdrom:x:11:
dialout:x:18:
floppy:x:19:
video:x:28:
audio:x:29:
tape:x:32:
www-data:x:33:
operator:x:37:
utmp:x:43:
plugdev:x:46:
staff:x:50:
lock:x:54:
netdev:x:82:
users:x:100:
nogroup:x:65534:
`
)

// predefinedGroupFiles: upstream's image-predefined-group runs
// `adduser -u 1000 -D default-user && addgroup -g 50000
// group-defined-in-image && addgroup default-user group-defined-in-image`.
func predefinedGroupFiles() []file {
	return []file{
		{path: "etc/passwd", mode: 0o644, data: busyboxPasswd + "default-user:x:1000:1000::/home/default-user:/bin/sh\n"},
		{path: "etc/group", mode: 0o644, data: busyboxGroup + "default-user:x:1000:\ngroup-defined-in-image:x:50000:default-user\n"},
		{path: "home/default-user", dir: true, mode: 0o755, uid: 1000, gid: 1000},
	}
}

// nginxScript stands in for nginx: critest reads /var/run/nginx.pid, finds
// the server with `pidof nginx` (the kernel names a script's process after
// the script) and waits for "master process" in /proc/1/cmdline (in
// nginx, its process title; here one argument, for grep to find between
// the NULs), then fetches / on port 80 (NGINX_PORT for hostnet-nginx).
const nginxScript = `#!/bin/sh
# A stand-in for nginx (critest's tests only need what is below): busybox httpd.
[ "$1" = "master process" ] || exec "$0" "master process" "$@"
echo $$ >/var/run/nginx.pid
httpd -f -p "${NGINX_PORT:-80}" -h /usr/share/nginx/html &
child=$!
trap 'kill $child 2>/dev/null; exit 0' TERM INT QUIT
wait $child
`

func nginxFiles() []file {
	return []file{
		{path: "usr/sbin/nginx", mode: 0o755, data: nginxScript},
		{path: "var/run", dir: true, mode: 0o755},
		{path: "usr/share/nginx/html/index.html", mode: 0o644, data: "<html><body>Welcome to nginx (a busybox httpd stand-in)</body></html>\n"},
	}
}

const httpdScript = `#!/bin/sh
# A stand-in for Apache httpd: busybox httpd in the foreground.
echo "httpd: serving /usr/local/apache2/htdocs on port 80"
exec httpd -f -v -p 80 -h /usr/local/apache2/htdocs
`

func httpdFiles() []file {
	return []file{
		{path: "usr/local/bin/httpd-foreground", mode: 0o755, data: httpdScript},
		{path: "usr/local/apache2/htdocs/index.html", mode: 0o644, data: "<html><body><h1>It works!</h1></body></html>\n"},
	}
}

// Debian's busybox-static has no pgrep and no ipcs applets, which
// critest runs in its default image: shell stand-ins doing what the tests
// use, from /proc.
const (
	pgrepScript = `#!/bin/sh
# pgrep PATTERN: the pids of the processes whose name matches PATTERN.
[ $# -eq 1 ] || { echo "usage: pgrep PATTERN (a stand-in)" >&2; exit 2; }
found=1
for d in /proc/[0-9]*; do
  read -r comm <"$d/comm" 2>/dev/null || continue
  [ "${d#/proc/}" = $$ ] && continue
  if echo "$comm" | grep -q -- "$1"; then echo "${d#/proc/}"; found=0; fi
done
exit $found
`
	ipcsScript = `#!/bin/sh
# ipcs -m: the System V shared memory segments, from /proc/sysvipc/shm.
[ "$*" = -m ] || { echo "usage: ipcs -m (a stand-in)" >&2; exit 2; }
echo
echo "------ Shared Memory Segments --------"
echo "key        shmid      owner      perms      bytes      nattch"
awk 'NR > 1 { printf "0x%08x %-10s %-10s %-10s %-10s %s\n", $1, $2, $8, $3, $4, $7 }' /proc/sysvipc/shm
`
)

func appletStandIns() []file {
	return []file{
		{path: "usr/local/bin/pgrep", mode: 0o755, data: pgrepScript},
		{path: "usr/local/bin/ipcs", mode: 0o755, data: ipcsScript},
	}
}

// builder makes images from the shared busybox layer.
type builder struct {
	base v1.Layer // the rootfs, with busybox's users
	nnp  []byte
}

func (b *builder) build(s imageSpec) (v1.Image, error) {
	layers := []v1.Layer{b.base}
	if len(s.files) > 0 {
		l, err := filesLayer(s.files, b.nnp)
		if err != nil {
			return nil, err
		}
		layers = append(layers, l)
	}
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture = "amd64"
	cf.OS = "linux"
	cf.Config = v1.Config{
		Env:        append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, s.env...),
		User:       s.user,
		Entrypoint: s.entry,
		Cmd:        s.cmd,
		WorkingDir: "/",
	}
	return mutate.ConfigFile(img, cf)
}

// repoPath is ref without its registry host: the path a registry mirror
// is asked for (containerd keeps the host in a ?ns= parameter).
func repoPath(ref string) (string, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return "", fmt.Errorf("image name %s: %w", ref, err)
	}
	return r.Context().RepositoryStr() + ":" + r.Identifier(), nil
}
