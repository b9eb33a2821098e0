package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// push uploads img as repo:tag (path) to the registry at addr: every blob
// in one POST, then the manifest. go-containerregistry's own client
// (pkg/v1/remote) would bring docker/cli's config code into the module
// for the credentials a loopback registry does not need.
func push(addr, path string, img v1.Image) error {
	repo, tag, ok := strings.Cut(path, ":")
	if !ok {
		return fmt.Errorf("%s: no tag", path)
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return err
		}
		rc, err := l.Compressed()
		if err != nil {
			return err
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return err
		}
		if err := postBlob(addr, repo, d, b); err != nil {
			return err
		}
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return err
	}
	cd, err := img.ConfigName()
	if err != nil {
		return err
	}
	if err := postBlob(addr, repo, cd, cfg); err != nil {
		return err
	}
	m, err := img.RawManifest()
	if err != nil {
		return err
	}
	mt, err := img.MediaType()
	if err != nil {
		return err
	}
	return send(http.MethodPut, fmt.Sprintf("http://%s/v2/%s/manifests/%s", addr, repo, tag), string(mt), m)
}

func postBlob(addr, repo string, d v1.Hash, b []byte) error {
	return send(http.MethodPost, fmt.Sprintf("http://%s/v2/%s/blobs/uploads/?digest=%s", addr, repo, d), "application/octet-stream", b)
}

func send(method, url, contentType string, body []byte) error {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s %s: %s: %s", method, url, resp.Status, msg)
	}
	return nil
}
