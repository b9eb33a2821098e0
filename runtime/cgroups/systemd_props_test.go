package cgroups

import (
	"errors"
	"math"
	"reflect"
	"testing"

	"github.com/containerd/errdefs"
	sddbus "github.com/coreos/go-systemd/v22/dbus"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// propMap gives properties by name; a name given twice fails the test.
func propMap(t *testing.T, props []sddbus.Property) map[string]any {
	t.Helper()
	m := map[string]any{}
	for _, p := range props {
		if _, dup := m[p.Name]; dup {
			t.Errorf("property %s given twice", p.Name)
		}
		m[p.Name] = p.Value.Value()
	}
	return m
}

func i64(v int64) *int64    { return &v }
func u64(v uint64) *uint64  { return &v }
func u16p(v uint16) *uint16 { return &v }

func TestResourcePropertiesV1AndV2(t *testing.T) {
	res := &specs.LinuxResources{
		Memory:  &specs.LinuxMemory{Limit: i64(256 << 20), Reservation: i64(128 << 20), Swap: i64(512 << 20)},
		CPU:     &specs.LinuxCPU{Shares: u64(1024), Quota: i64(50000), Period: u64(100000), Cpus: "0-1,3", Mems: "0"},
		BlockIO: &specs.LinuxBlockIO{Weight: u16p(500)},
		Pids:    &specs.LinuxPids{Limit: i64(100)},
	}
	v1, fileRes, err := resourceProperties(false, 255, res, "")
	if err != nil {
		t.Fatal(err)
	}
	want1 := map[string]any{
		"MemoryLimit":        uint64(256 << 20),
		"CPUShares":          uint64(1024),
		"CPUQuotaPeriodUSec": uint64(100000),
		"CPUQuotaPerSecUSec": uint64(500000),
		"AllowedCPUs":        []byte{0b1011},
		"AllowedMemoryNodes": []byte{1},
		"BlockIOWeight":      uint64(500),
		"TasksMax":           uint64(100),
	}
	if got := propMap(t, v1); !reflect.DeepEqual(got, want1) {
		t.Errorf("v1:\n got %v\nwant %v", got, want1)
	}
	if *fileRes.CPU.Quota != 50000 {
		t.Errorf("quota changed to %d", *fileRes.CPU.Quota)
	}
	v2, _, err := resourceProperties(true, 255, res, "")
	if err != nil {
		t.Fatal(err)
	}
	want2 := map[string]any{
		"MemoryMax":          uint64(256 << 20),
		"MemoryLow":          uint64(128 << 20),
		"MemorySwapMax":      uint64(256 << 20), // memory+swap less memory
		"CPUWeight":          sharesToWeight(1024),
		"CPUQuotaPeriodUSec": uint64(100000),
		"CPUQuotaPerSecUSec": uint64(500000),
		"AllowedCPUs":        []byte{0b1011},
		"AllowedMemoryNodes": []byte{1},
		"TasksMax":           uint64(100),
	}
	if got := propMap(t, v2); !reflect.DeepEqual(got, want2) {
		t.Errorf("v2:\n got %v\nwant %v", got, want2)
	}
	if w := sharesToWeight(1024); w != 100 {
		t.Errorf("CPUWeight for 1024 shares %d, want v2's default 100", w)
	}
}

func TestResourcePropertiesOldSystemd(t *testing.T) {
	res := &specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: i64(20000), Period: u64(50000), Cpus: "0", Idle: i64(1), Shares: u64(2)}}
	// systemd 241: no CPUQuotaPeriodUSec, AllowedCPUs nor idle.
	props, _, err := resourceProperties(true, 241, res, "")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"CPUQuotaPerSecUSec": uint64(400000), "CPUWeight": uint64(1)}
	if got := propMap(t, props); !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	// From 252, idle is CPUWeight=0 and the shares are not given.
	props, _, _ = resourceProperties(true, 252, res, "")
	if got := propMap(t, props)["CPUWeight"]; got != uint64(0) {
		t.Errorf("idle: CPUWeight %v, want 0", got)
	}
	// v1 has no idle property.
	props, _, _ = resourceProperties(false, 255, res, "")
	if got := propMap(t, props)["CPUShares"]; got != uint64(2) {
		t.Errorf("v1 idle: CPUShares %v", got)
	}
}

func TestResourcePropertiesUnlimited(t *testing.T) {
	res := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: i64(-1), Swap: i64(-1)},
		CPU:    &specs.LinuxCPU{Quota: i64(-1)},
		Pids:   &specs.LinuxPids{Limit: i64(-1)},
	}
	props, _, err := resourceProperties(true, 255, res, "")
	if err != nil {
		t.Fatal(err)
	}
	inf := uint64(math.MaxUint64)
	want := map[string]any{"MemoryMax": inf, "MemorySwapMax": inf, "CPUQuotaPerSecUSec": inf, "TasksMax": inf}
	if got := propMap(t, props); !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	// systemd refuses TasksMax=0; 1 is the least it takes.
	props, _, _ = resourceProperties(false, 255, &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(0)}}, "")
	if got := propMap(t, props)["TasksMax"]; got != uint64(1) {
		t.Errorf("pids 0: TasksMax %v", got)
	}
	// Unset and zero values give no property.
	props, _, _ = resourceProperties(true, 255, &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: i64(0)}, CPU: &specs.LinuxCPU{Shares: u64(0)}, Pids: &specs.LinuxPids{}}, "")
	if len(props) != 0 {
		t.Errorf("zero values: %v", propMap(t, props))
	}
}

// systemd keeps a quota in whole percent: the quota per second is rounded
// up to 10ms, and the quota written to the files with it.
func TestResourcePropertiesQuotaRounding(t *testing.T) {
	for _, tc := range []struct {
		quota, period   int64
		perSec, newFile int64
	}{
		{12345, 100000, 130000, 13000},
		{1, 100000, 10000, 1000},
		{33333, 50000, 670000, 33500},
		{25000, 100000, 250000, 25000}, // whole: unchanged
		{150000, 0, 1500000, 150000},   // default period
	} {
		cpu := &specs.LinuxCPU{Quota: i64(tc.quota)}
		if tc.period != 0 {
			cpu.Period = u64(uint64(tc.period))
		}
		props, fileRes, err := resourceProperties(false, 255, &specs.LinuxResources{CPU: cpu}, "")
		if err != nil {
			t.Fatal(err)
		}
		if got := propMap(t, props)["CPUQuotaPerSecUSec"]; got != uint64(tc.perSec) {
			t.Errorf("%d/%d: CPUQuotaPerSecUSec %v, want %d", tc.quota, tc.period, got, tc.perSec)
		}
		if *fileRes.CPU.Quota != tc.newFile {
			t.Errorf("%d/%d: file quota %d, want %d", tc.quota, tc.period, *fileRes.CPU.Quota, tc.newFile)
		}
		if *cpu.Quota != tc.quota {
			t.Errorf("the caller's quota was changed")
		}
	}
}

func TestResourcePropertiesUnified(t *testing.T) {
	res := &specs.LinuxResources{Unified: map[string]string{
		"memory.high": "1000000", "memory.min": "max", "pids.max": "0", "cpu.weight": "50",
		"cpu.max": "max 20000", "cpuset.cpus": "2", "io.weight": "100",
	}}
	props, _, err := resourceProperties(true, 255, res, "")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"MemoryHigh": uint64(1000000), "MemoryMin": uint64(math.MaxUint64), "TasksMax": uint64(1), "CPUWeight": uint64(50),
		"CPUQuotaPeriodUSec": uint64(20000), "CPUQuotaPerSecUSec": uint64(math.MaxUint64), "AllowedCPUs": []byte{4},
	}
	if got := propMap(t, props); !reflect.DeepEqual(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
	// v1 has no unified map to translate.
	if props, _, _ := resourceProperties(false, 255, res, ""); len(props) != 0 {
		t.Errorf("v1: %v", propMap(t, props))
	}
	for _, bad := range []map[string]string{{"memory.max": "lots"}, {"cpu.max": "1 2 3"}, {"cpu.max": "0"}, {"cpuset.cpus": "3-1"}, {"cpu.weight": "-1"}} {
		if _, _, err := resourceProperties(true, 255, &specs.LinuxResources{Unified: bad}, ""); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("%v: %v, want InvalidArgument", bad, err)
		}
	}
}

func TestResourcePropertiesInvalid(t *testing.T) {
	for name, res := range map[string]*specs.LinuxResources{
		"memory -2":            {Memory: &specs.LinuxMemory{Limit: i64(-2)}},
		"swap below memory":    {Memory: &specs.LinuxMemory{Limit: i64(100), Swap: i64(50)}},
		"swap without memory":  {Memory: &specs.LinuxMemory{Swap: i64(50)}},
		"cpus":                 {CPU: &specs.LinuxCPU{Cpus: "0-x"}},
		"mems":                 {CPU: &specs.LinuxCPU{Mems: ","}},
		"device type":          {Devices: []specs.LinuxDeviceCgroup{{Type: "x"}}},
		"reservation negative": {Memory: &specs.LinuxMemory{Reservation: i64(-5)}},
	} {
		if _, _, err := resourceProperties(true, 255, res, ""); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("%s: %v, want InvalidArgument", name, err)
		}
	}
}

func TestCPUListBits(t *testing.T) {
	for in, want := range map[string][]byte{
		"0": {1}, "7": {0x80}, "8": {0, 1}, "0-3": {0x0f}, "0-3,8-9": {0x0f, 3}, "1,3,5": {0x2a}, " 2 ": {4},
	} {
		got, err := cpuListBits(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%q: %v %v, want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "a", "3-1", "1-", "-1", "1,,2", "70000"} {
		if got, err := cpuListBits(in); err == nil {
			t.Errorf("%q: %v, want an error", in, got)
		}
	}
}

func TestUnitProperties(t *testing.T) {
	scope, _ := parseSystemdPath("kubepods.slice:cri-containerd:abc")
	res := []sddbus.Property{prop("TasksMax", uint64(5))}
	got := propMap(t, unitProperties(scope, false, 42, res))
	want := map[string]any{
		"Description": "raind container cri-containerd-abc.scope", "Slice": "kubepods.slice", "Delegate": true,
		"PIDs": []uint32{42}, "MemoryAccounting": true, "CPUAccounting": true, "BlockIOAccounting": true,
		"TasksAccounting": true, "DefaultDependencies": false, "TasksMax": uint64(5),
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("v1 scope:\n got %v\nwant %v", got, want)
	}
	got = propMap(t, unitProperties(scope, true, 42, nil))
	if got["IOAccounting"] != true || got["BlockIOAccounting"] != nil {
		t.Errorf("v2 scope: %v", got)
	}
	slice, _ := parseSystemdPath("machine.slice:x:machine-c1.slice")
	got = propMap(t, unitProperties(slice, true, 0, nil))
	if !reflect.DeepEqual(got["Wants"], []string{"machine.slice"}) || got["Slice"] != nil || got["Delegate"] != nil || got["PIDs"] != nil {
		t.Errorf("slice: %v", got)
	}
}

func TestParseSystemdVersion(t *testing.T) {
	for in, want := range map[string]int{`"255.4-1"`: 255, `"v245.4-1.fc32"`: 245, "252": 252, `"249~rc1"`: 249, `""`: 0, "x": 0} {
		if got := parseSystemdVersion(in); got != want {
			t.Errorf("%q: %d, want %d", in, got, want)
		}
	}
}
