package cgroups

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The bpf(2) attributes below are the leading members of the kernel's
// union bpf_attr for each command; the kernel reads what it knows of the
// size passed and takes the rest as zero.

// bpfPtr is an __aligned_u64 holding an address. It is kept as a pointer,
// not an integer, so that the runtime keeps the buffer alive and updates
// the address if the buffer is on a goroutine stack that moves before the
// call; on little-endian 32-bit machines the second, nil element is the
// upper half.
type bpfPtr [8 / unsafe.Sizeof(uintptr(0))]unsafe.Pointer

func bpfPointer(p unsafe.Pointer) bpfPtr { return bpfPtr{p} }

type progLoadAttr struct {
	progType uint32
	insnCnt  uint32
	insns    bpfPtr
	license  bpfPtr
	logLevel uint32
	logSize  uint32
	logBuf   bpfPtr
	_        uint32 // kern_version
	_        uint32 // prog_flags
	progName [unix.BPF_OBJ_NAME_LEN]byte
}

type progAttachAttr struct {
	targetFD    uint32
	attachBPFFD uint32
	attachType  uint32
	attachFlags uint32
}

type progQueryAttr struct {
	targetFD   uint32
	attachType uint32
	_          uint32 // query_flags
	_          uint32 // attach_flags
	progIDs    bpfPtr
	progCnt    uint32
	// Recent kernels write back more than this struct names (the
	// attach revision, past prog_attach_flags): leave room for them.
	_ [64]byte
}

type progGetFDAttr struct {
	progID uint32
	_      [12]byte
}

// bpfLicense needs to be GPL-compatible only for GPL-only helpers, which
// the device program does not call.
const bpfLicense = "Apache\x00"

func bpf(cmd uintptr, attr unsafe.Pointer, size uintptr) (int, error) {
	var fd uintptr
	var errno unix.Errno
	for range 10 {
		fd, _, errno = unix.Syscall(unix.SYS_BPF, cmd, uintptr(attr), size)
		// The verifier gives up with EAGAIN when a signal is pending,
		// and the Go runtime signals its threads to preempt them.
		if errno != unix.EAGAIN && errno != unix.EINTR {
			break
		}
	}
	if errno != 0 {
		return -1, errno
	}
	return int(fd), nil
}

// loadDeviceProgram loads prog and returns its fd (close-on-exec).
func loadDeviceProgram(prog []bpfInsn) (int, error) {
	attr := progLoadAttr{
		progType: unix.BPF_PROG_TYPE_CGROUP_DEVICE,
		insnCnt:  uint32(len(prog)),
		insns:    bpfPointer(unsafe.Pointer(&prog[0])),
		license:  bpfPointer(unsafe.Pointer(unsafe.StringData(bpfLicense))),
	}
	copy(attr.progName[:], "raind_devices")
	fd, err := bpf(unix.BPF_PROG_LOAD, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	if err == nil {
		return fd, nil
	}
	// Only a failed load pays for the verifier's log, to explain itself.
	log := make([]byte, 64<<10+len(prog))
	attr.logLevel = 1
	attr.logSize = uint32(len(log))
	attr.logBuf = bpfPointer(unsafe.Pointer(&log[0]))
	fd, lerr := bpf(unix.BPF_PROG_LOAD, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	if lerr == nil {
		return fd, nil
	}
	if n := bytes.IndexByte(log, 0); n >= 0 {
		log = log[:n]
	}
	// The reason is at the end of the log, which can be long.
	msg := strings.ReplaceAll(string(bytes.TrimSpace(log)), "\n", "; ")
	if len(msg) > 2048 {
		msg = "..." + msg[len(msg)-2048:]
	}
	if msg == "" {
		return -1, fmt.Errorf("load device filter: %w", err)
	}
	return -1, fmt.Errorf("load device filter: %w: verifier: %s", err, msg)
}

// attachDeviceFilter loads prog and makes it the device filter of the
// cgroup open at dirFD. The library only ever added programs, so that an
// update could narrow the allowed devices but never widen them, since the
// kernel allows an access only if every attached program does. Like runc,
// the new program is attached first and the older ones are detached after,
// so that no access is allowed in between that neither set of rules allows.
func attachDeviceFilter(dirFD int, prog []bpfInsn) error {
	old, err := deviceFilters(dirFD)
	defer func() {
		for _, fd := range old {
			_ = unix.Close(fd)
		}
	}()
	if err != nil {
		return err
	}
	fd, err := loadDeviceProgram(prog)
	if err != nil {
		return err
	}
	// An attached program lives as long as it stays attached.
	defer unix.Close(fd)
	attach := progAttachAttr{
		targetFD:    uint32(dirFD),
		attachBPFFD: uint32(fd),
		attachType:  unix.BPF_CGROUP_DEVICE,
		attachFlags: unix.BPF_F_ALLOW_MULTI,
	}
	if _, err := bpf(unix.BPF_PROG_ATTACH, unsafe.Pointer(&attach), unsafe.Sizeof(attach)); err != nil {
		return fmt.Errorf("attach device filter (BPF_PROG_ATTACH BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI): %w", err)
	}
	for _, ofd := range old {
		detach := progAttachAttr{targetFD: uint32(dirFD), attachBPFFD: uint32(ofd), attachType: unix.BPF_CGROUP_DEVICE}
		if _, err := bpf(unix.BPF_PROG_DETACH, unsafe.Pointer(&detach), unsafe.Sizeof(detach)); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("detach old device filter (BPF_PROG_DETACH): %w", err)
		}
	}
	return nil
}

// deviceFilters opens the device programs attached to the cgroup at dirFD
// itself (not those inherited from its parents).
func deviceFilters(dirFD int) ([]int, error) {
	// A cgroup holds at most 64 programs per attach type; ENOSPC says
	// how many there are if that ever grows.
	ids := make([]uint32, 64)
	for {
		q := progQueryAttr{
			targetFD:   uint32(dirFD),
			attachType: unix.BPF_CGROUP_DEVICE,
			progIDs:    bpfPointer(unsafe.Pointer(&ids[0])),
			progCnt:    uint32(len(ids)),
		}
		_, err := bpf(unix.BPF_PROG_QUERY, unsafe.Pointer(&q), unsafe.Sizeof(q))
		if errors.Is(err, unix.ENOSPC) && int(q.progCnt) > len(ids) {
			ids = make([]uint32, q.progCnt)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("list device filters (BPF_PROG_QUERY): %w", err)
		}
		ids = ids[:q.progCnt]
		break
	}
	var fds []int
	for _, id := range ids {
		a := progGetFDAttr{progID: id}
		fd, err := bpf(unix.BPF_PROG_GET_FD_BY_ID, unsafe.Pointer(&a), unsafe.Sizeof(a))
		switch {
		case err == nil:
			fds = append(fds, fd)
		case errors.Is(err, unix.ENOENT):
			// Detached and freed since the query.
		case errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES):
			// As runc does, leave alone what an LSM hides from us:
			// an extra program can only refuse more.
		default:
			for _, fd := range fds {
				_ = unix.Close(fd)
			}
			return nil, fmt.Errorf("open device filter %d (BPF_PROG_GET_FD_BY_ID): %w", id, err)
		}
	}
	return fds, nil
}
