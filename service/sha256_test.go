package service

import (
	"crypto/sha256"
	"math/rand/v2"
	"testing"
)

func TestSum256MatchesCryptoSHA256(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	// Every length up to three blocks crosses each padding boundary
	// (55, 56, 63, 64 bytes), then some long inputs.
	for n := 0; n < 200; n++ {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		if got, want := sum256(b), sha256.Sum256(b); got != want {
			t.Fatalf("len %d: got %x, want %x", n, got, want)
		}
	}
	for _, n := range []int{1000, 4096, 65537} {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		if got, want := sum256(b), sha256.Sum256(b); got != want {
			t.Fatalf("len %d: got %x, want %x", n, got, want)
		}
	}
}

func FuzzSum256(f *testing.F) {
	f.Add([]byte("/run/containerd/containerd.sock/default/pod1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := sum256(b), sha256.Sum256(b); got != want {
			t.Fatalf("got %x, want %x", got, want)
		}
	})
}
