package main

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	mathrand "math/rand"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

type testEnv struct {
	t   *testing.T
	srv *Server
	ts  *httptest.Server
	dir string
}

func newEnv(t *testing.T, cfg Config) *testEnv {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	if cfg.DefaultTTL == 0 {
		cfg.DefaultTTL = 86400
	}
	srv, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { ts.Close(); srv.Close() })
	return &testEnv{t: t, srv: srv, ts: ts, dir: cfg.DataDir}
}

// stop shuts the server down (waiting for requests in flight), like a
// SIGTERM of the binary.
func (e *testEnv) stop() {
	e.ts.Close()
	e.srv.Close()
}

func (e *testEnv) do(method, path string, body io.Reader, hdr map[string]string) (*http.Response, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.ts.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp, b
}

func (e *testEnv) createUpload(body string, hdr map[string]string) *uploadJSON {
	e.t.Helper()
	resp, b := e.do("POST", "/upload", strings.NewReader(body), hdr)
	if resp.StatusCode != 200 {
		e.t.Fatalf("create upload: %d %s", resp.StatusCode, b)
	}
	u := &uploadJSON{}
	if err := json.Unmarshal(b, u); err != nil {
		e.t.Fatalf("create upload: bad json %q: %v", b, err)
	}
	return u
}

func multipartBody(t *testing.T, name string, data []byte) (io.Reader, string) {
	t.Helper()
	buf := &bytes.Buffer{}
	mw := multipart.NewWriter(buf)
	fw, err := mw.CreateFormFile("file", name)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = fw.Write(data)
	_ = mw.Close()
	return buf, mw.FormDataContentType()
}

func (e *testEnv) addFile(path, token, name string, data []byte) (*http.Response, []byte) {
	e.t.Helper()
	body, ct := multipartBody(e.t, name, data)
	hdr := map[string]string{"Content-Type": ct}
	if token != "" {
		hdr["X-UploadToken"] = token
	}
	return e.do("POST", path, body, hdr)
}

func (e *testEnv) mustAddFile(u *uploadJSON, name string, data []byte) *fileJSON {
	e.t.Helper()
	resp, b := e.addFile("/file/"+u.ID, u.UploadToken, name, data)
	if resp.StatusCode != 200 {
		e.t.Fatalf("add file: %d %s", resp.StatusCode, b)
	}
	f := &fileJSON{}
	if err := json.Unmarshal(b, f); err != nil {
		e.t.Fatalf("add file: bad json %q: %v", b, err)
	}
	return f
}

func fileURL(u *uploadJSON, f *fileJSON) string {
	return fmt.Sprintf("/file/%s/%s/%s", u.ID, f.ID, f.Name)
}

func md5of(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

func TestCreateUploadDownloadRoundTrip(t *testing.T) {
	e := newEnv(t, Config{})

	// An empty body is accepted, as by Plik.
	u := e.createUpload("", nil)
	if len(u.ID) != 16 || len(u.UploadToken) != 32 {
		t.Fatalf("unexpected ids: %+v", u)
	}
	if !u.IsAdmin || u.TTL != 86400 || u.ExpireAt == nil || u.CreatedAt.IsZero() || u.OneShot {
		t.Fatalf("unexpected upload: %+v", u)
	}
	if d := u.ExpireAt.Sub(u.CreatedAt); d != 86400*time.Second {
		t.Fatalf("expireAt-createdAt = %v", d)
	}

	data := []byte("hello plik compat\n")
	f := e.mustAddFile(u, "hello.txt", data)
	if f.Status != "uploaded" || f.Size != int64(len(data)) || f.Md5 != md5of(data) ||
		f.Name != "hello.txt" || f.Type != "text/plain; charset=utf-8" || len(f.ID) != 16 {
		t.Fatalf("unexpected file: %+v", f)
	}

	resp, got := e.do("GET", fileURL(u, f), nil, nil)
	if resp.StatusCode != 200 || !bytes.Equal(got, data) {
		t.Fatalf("download: %d %q", resp.StatusCode, got)
	}
	if resp.Header.Get("Content-Length") != fmt.Sprint(len(data)) ||
		resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" ||
		resp.Header.Get("Content-Disposition") != `filename="hello.txt"` {
		t.Fatalf("download headers: %v", resp.Header)
	}

	resp, got = e.do("HEAD", fileURL(u, f), nil, nil)
	if resp.StatusCode != 200 || len(got) != 0 || resp.Header.Get("Content-Length") != fmt.Sprint(len(data)) {
		t.Fatalf("head: %d %v", resp.StatusCode, resp.Header)
	}

	// Not-one-shot files can be downloaded again, with ranges.
	resp, got = e.do("GET", fileURL(u, f), nil, map[string]string{"Range": "bytes=0-4"})
	if resp.StatusCode != http.StatusPartialContent || string(got) != "hello" {
		t.Fatalf("range: %d %q", resp.StatusCode, got)
	}

	// Upload metadata, seen by a non-admin: no upload token.
	resp, b := e.do("GET", "/upload/"+u.ID, nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("get upload: %d %s", resp.StatusCode, b)
	}
	var meta uploadJSON
	if err := json.Unmarshal(b, &meta); err != nil {
		t.Fatal(err)
	}
	if meta.UploadToken != "" || meta.IsAdmin || len(meta.Files) != 1 || meta.Files[0].Status != "uploaded" {
		t.Fatalf("get upload: %s", b)
	}
	// ... and by the admin.
	_, b = e.do("GET", "/upload/"+u.ID, nil, map[string]string{"X-UploadToken": u.UploadToken})
	if err := json.Unmarshal(b, &meta); err != nil || meta.UploadToken != u.UploadToken || !meta.IsAdmin {
		t.Fatalf("get upload (admin): %s", b)
	}

	// Unknown ids and wrong names.
	for path, want := range map[string]int{
		"/file/" + u.ID + "/nosuchfile000000/hello.txt":  404,
		"/file/nosuchupload00000/" + f.ID + "/hello.txt": 404,
		"/file/" + u.ID + "/" + f.ID + "/other.txt":      400,
		"/upload/nosuchupload00000":                      404,
	} {
		if resp, b := e.do("GET", path, nil, nil); resp.StatusCode != want {
			t.Errorf("GET %s: %d %s, want %d", path, resp.StatusCode, b, want)
		}
	}
}

func TestConfigAndVersion(t *testing.T) {
	e := newEnv(t, Config{DefaultTTL: 60, MaxTTL: 3600, MaxFileSize: 1000, Token: "tok"})
	resp, b := e.do("GET", "/config", nil, nil)
	var c configJSON
	if resp.StatusCode != 200 || json.Unmarshal(b, &c) != nil {
		t.Fatalf("config: %d %s", resp.StatusCode, b)
	}
	if c.DefaultTTL != 60 || c.MaxTTL != 3600 || c.MaxFileSize != 1000 || c.FeatureAuthentication != "forced" || !c.NoAnonymousUploads || c.FeatureStream != "disabled" {
		t.Fatalf("config: %s", b)
	}
	resp, b = e.do("GET", "/version", nil, nil)
	var v buildInfoJSON
	if resp.StatusCode != 200 || json.Unmarshal(b, &v) != nil || v.Version == "" {
		t.Fatalf("version: %d %s", resp.StatusCode, b)
	}
}

func TestTokenRequired(t *testing.T) {
	e := newEnv(t, Config{Token: "s3cret"})

	// No token: Plik answers 400 "anonymous uploads are disabled".
	resp, b := e.do("POST", "/upload", strings.NewReader("{}"), nil)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "anonymous uploads are disabled") {
		t.Fatalf("no token: %d %s", resp.StatusCode, b)
	}
	// Wrong token: 403 "invalid token".
	resp, b = e.do("POST", "/upload", strings.NewReader("{}"), map[string]string{"X-PlikToken": "nope"})
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(b), "invalid token") {
		t.Fatalf("wrong token: %d %s", resp.StatusCode, b)
	}
	// Right token.
	u := e.createUpload("{}", map[string]string{"X-PlikToken": "s3cret"})
	f := e.mustAddFile(u, "a.bin", []byte{1, 2, 3})

	// The API token alone also makes the caller admin of uploads it created.
	body, ct := multipartBody(t, "b.bin", []byte{4})
	resp, b = e.do("POST", "/file/"+u.ID, body, map[string]string{"Content-Type": ct, "X-PlikToken": "s3cret"})
	if resp.StatusCode != 200 {
		t.Fatalf("add file with api token: %d %s", resp.StatusCode, b)
	}
	// Downloads are anonymous; a wrong token header is still rejected.
	if resp, _ := e.do("GET", fileURL(u, f), nil, nil); resp.StatusCode != 200 {
		t.Fatalf("anonymous download: %d", resp.StatusCode)
	}
	if resp, _ := e.do("GET", fileURL(u, f), nil, map[string]string{"X-PlikToken": "bad"}); resp.StatusCode != 403 {
		t.Fatalf("download with bad token: %d", resp.StatusCode)
	}
}

func TestWrongUploadToken(t *testing.T) {
	e := newEnv(t, Config{})
	u := e.createUpload("{}", nil)
	for _, tok := range []string{"", "wrong-token"} {
		resp, b := e.addFile("/file/"+u.ID, tok, "x.txt", []byte("x"))
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(b), "you are not allowed to add file to this upload") {
			t.Fatalf("token %q: %d %s", tok, resp.StatusCode, b)
		}
	}
	// Not removable, not admin: deleting is forbidden too.
	f := e.mustAddFile(u, "x.txt", []byte("x"))
	if resp, _ := e.do("DELETE", fileURL(u, f), nil, map[string]string{"X-UploadToken": "wrong"}); resp.StatusCode != 403 {
		t.Fatalf("delete file with wrong token: %d", resp.StatusCode)
	}
	if resp, _ := e.do("DELETE", "/upload/"+u.ID, nil, nil); resp.StatusCode != 403 {
		t.Fatalf("delete upload without token: %d", resp.StatusCode)
	}
}

func TestOneShot(t *testing.T) {
	e := newEnv(t, Config{})
	u := e.createUpload(`{"oneShot": true}`, nil)
	if !u.OneShot {
		t.Fatalf("oneShot not set: %+v", u)
	}
	data := bytes.Repeat([]byte("0123456789"), 3200000) // 32 MB, more than socket buffers
	f := e.mustAddFile(u, "once.bin", data)

	// HEAD does not consume the file.
	if resp, _ := e.do("HEAD", fileURL(u, f), nil, nil); resp.StatusCode != 200 || resp.Header.Get("Content-Length") != fmt.Sprint(len(data)) {
		t.Fatalf("head: %d %v", resp.StatusCode, resp.Header)
	}

	// First GET: read a few bytes then break off.
	resp, err := http.Get(e.ts.URL + fileURL(u, f))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "no-cache, no-store, must-revalidate" {
		t.Fatalf("first get: %d %v", resp.StatusCode, resp.Header)
	}
	head := make([]byte, 10)
	if _, err := io.ReadFull(resp.Body, head); err != nil || string(head) != "0123456789" {
		t.Fatalf("first get body: %q %v", head, err)
	}

	// Second GET while the first is still open: already gone.
	resp2, b := e.do("GET", fileURL(u, f), nil, nil)
	// (status "removed" while the first download runs, "deleted" once purged)
	if resp2.StatusCode != 404 || !strings.Contains(string(b), "is not available : removed") && !strings.Contains(string(b), "is not available : deleted") {
		t.Fatalf("second get: %d %s", resp2.StatusCode, b)
	}
	t.Logf("second get while first in flight: %d %s", resp2.StatusCode, bytes.TrimSpace(b))
	resp.Body.Close()

	// After the first download ends the data is purged.
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, b = e.do("GET", "/upload/"+u.ID, nil, nil)
		var meta uploadJSON
		_ = json.Unmarshal(b, &meta)
		if len(meta.Files) == 1 && meta.Files[0].Status == "deleted" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("file not purged: %s", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(e.dir, u.ID, f.ID)); !os.IsNotExist(err) {
		t.Fatalf("one-shot data still on disk: %v", err)
	}
	if resp, _ := e.do("GET", fileURL(u, f), nil, nil); resp.StatusCode != 404 {
		t.Fatalf("third get: %d", resp.StatusCode)
	}
}

func TestTTLExpiry(t *testing.T) {
	e := newEnv(t, Config{})
	u := e.createUpload(`{"ttl": 1}`, nil)
	if u.TTL != 1 {
		t.Fatalf("ttl: %+v", u)
	}
	f := e.mustAddFile(u, "short.txt", []byte("short-lived"))
	if resp, _ := e.do("GET", fileURL(u, f), nil, nil); resp.StatusCode != 200 {
		t.Fatalf("before expiry: %d", resp.StatusCode)
	}
	time.Sleep(1200 * time.Millisecond)

	resp, b := e.do("GET", fileURL(u, f), nil, nil)
	if resp.StatusCode != 404 || !strings.Contains(string(b), "has expired") {
		t.Fatalf("after expiry: %d %s", resp.StatusCode, b)
	}
	if resp, _ := e.do("GET", "/upload/"+u.ID, nil, nil); resp.StatusCode != 404 {
		t.Fatalf("metadata after expiry: %d", resp.StatusCode)
	}
	if resp, _ := e.addFile("/file/"+u.ID, u.UploadToken, "late.txt", []byte("x")); resp.StatusCode != 404 {
		t.Fatalf("add after expiry: %d", resp.StatusCode)
	}

	// The sweep deletes the data from disk.
	path := filepath.Join(e.dir, u.ID, f.ID)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("data should still exist before sweep: %v", err)
	}
	if n := e.srv.Sweep(); n != 1 {
		t.Fatalf("sweep removed %d uploads", n)
	}
	if _, err := os.Stat(filepath.Join(e.dir, u.ID)); !os.IsNotExist(err) {
		t.Fatalf("expired data still on disk: %v", err)
	}
	if resp, b := e.do("GET", fileURL(u, f), nil, nil); resp.StatusCode != 404 || !strings.Contains(string(b), "not found") {
		t.Fatalf("after sweep: %d %s", resp.StatusCode, b)
	}
}

func TestTTLLimits(t *testing.T) {
	e := newEnv(t, Config{DefaultTTL: 60, MaxTTL: 120})
	for body, want := range map[string]string{
		`{"ttl": 121}`:         "invalid TTL. (maximum allowed is : 120)",
		`{"ttl": -1}`:          "cannot set infinite TTL",
		`{"stream": true}`:     "streaming uploads are disabled",
		`{"extend_ttl": true}`: "extend TTL is disabled",
		`not json`:             "unable to deserialize request body",
	} {
		resp, b := e.do("POST", "/upload", strings.NewReader(body), nil)
		if resp.StatusCode != 400 || !strings.Contains(string(b), want) {
			t.Errorf("%s: %d %s (want %q)", body, resp.StatusCode, b, want)
		}
	}
	if u := e.createUpload(`{"ttl": 120}`, nil); u.TTL != 120 {
		t.Fatalf("ttl 120: %+v", u)
	}

	// Unlimited max TTL allows never-expiring uploads.
	e2 := newEnv(t, Config{DefaultTTL: 60})
	if u := e2.createUpload(`{"ttl": -1}`, nil); u.TTL != -1 || u.ExpireAt != nil {
		t.Fatalf("infinite ttl: %+v", u)
	}
}

func TestMaxFileSize(t *testing.T) {
	e := newEnv(t, Config{MaxFileSize: 1000})
	u := e.createUpload("", nil)
	resp, b := e.addFile("/file/"+u.ID, u.UploadToken, "big.bin", make([]byte, 1001))
	if resp.StatusCode != 400 || !strings.Contains(string(b), "file too big (limit is set to 1.0 kB)") {
		t.Fatalf("too big: %d %s", resp.StatusCode, b)
	}
	e.mustAddFile(u, "ok.bin", make([]byte, 1000))

	resp, b = e.do("POST", "/upload", strings.NewReader(`{"files":[{"fileName":"x","fileSize":5000}]}`), nil)
	if resp.StatusCode != 400 || !strings.Contains(string(b), "file is too big") {
		t.Fatalf("declared too big: %d %s", resp.StatusCode, b)
	}
}

// A 50 MB file streamed with chunked transfer encoding (no Content-Length).
func TestStreamingUploadWithoutContentLength(t *testing.T) {
	e := newEnv(t, Config{})
	u := e.createUpload("", nil)

	// Record how the server saw the request body.
	seen := make(chan []string, 1)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "POST" {
			seen <- append([]string{fmt.Sprint(r.ContentLength)}, r.TransferEncoding...)
		}
		e.srv.Handler().ServeHTTP(w, r)
	}))
	defer ts.Close()

	const size = 50 << 20
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	sum := md5.New()
	go func() {
		fw, err := mw.CreateFormFile("file", "big.bin")
		if err != nil {
			pw.CloseWithError(err)
			return
		}
		chunk := make([]byte, 64*1024)
		for written := 0; written < size; written += len(chunk) {
			for i := range chunk {
				chunk[i] = byte((written + i) * 7 >> 3)
			}
			sum.Write(chunk)
			if _, err := fw.Write(chunk); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		pw.CloseWithError(mw.Close())
	}()

	req, err := http.NewRequest("POST", ts.URL+"/file/"+u.ID, pr)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = -1 // force chunked transfer encoding
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("X-UploadToken", u.UploadToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("upload: %d %s", resp.StatusCode, b)
	}
	if got := <-seen; len(got) != 2 || got[0] != "-1" || got[1] != "chunked" {
		t.Fatalf("request was not chunked without length: %v", got)
	}
	var f fileJSON
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	want := hex.EncodeToString(sum.Sum(nil))
	if f.Size != size || f.Md5 != want || f.Status != "uploaded" {
		t.Fatalf("file: %+v (want md5 %s)", f, want)
	}

	dl, err := http.Get(e.ts.URL + fileURL(u, &f))
	if err != nil {
		t.Fatal(err)
	}
	defer dl.Body.Close()
	h := md5.New()
	n, err := io.Copy(h, dl.Body)
	if err != nil || n != size || hex.EncodeToString(h.Sum(nil)) != want || dl.ContentLength != size {
		t.Fatalf("download: n=%d err=%v cl=%d", n, err, dl.ContentLength)
	}
}

func TestPredeclaredFilesAndRemoval(t *testing.T) {
	e := newEnv(t, Config{})
	u := e.createUpload(`{"removable": true, "files":[{"fileName":"a.txt","reference":"0"},{"fileName":"b.txt","reference":"1"}]}`, nil)
	if len(u.Files) != 2 || u.Files[0].Status != "missing" || u.Files[0].Reference != "0" {
		t.Fatalf("declared files: %+v", u.Files)
	}
	fa, fb := u.Files[0], u.Files[1]

	// Missing files are not downloadable.
	if resp, _ := e.do("GET", fileURL(u, fa), nil, nil); resp.StatusCode != 404 {
		t.Fatalf("missing file: %d", resp.StatusCode)
	}
	// Upload into the declared slot; the multipart name must match.
	if resp, b := e.addFile(fileURL(u, fa), u.UploadToken, "other.txt", []byte("A")); resp.StatusCode != 400 {
		t.Fatalf("mismatched name: %d %s", resp.StatusCode, b)
	}
	resp, b := e.addFile(fileURL(u, fa), u.UploadToken, "a.txt", []byte("AAA"))
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"id":"`+fa.ID+`"`) {
		t.Fatalf("declared upload: %d %s", resp.StatusCode, b)
	}
	// A second upload into the same slot is refused.
	if resp, b := e.addFile(fileURL(u, fa), u.UploadToken, "a.txt", []byte("A")); resp.StatusCode != 400 || !strings.Contains(string(b), "invalid file status uploaded") {
		t.Fatalf("re-upload: %d %s", resp.StatusCode, b)
	}
	e.addFile(fileURL(u, fb), u.UploadToken, "b.txt", []byte("BBB"))

	// Removable upload: anyone may delete a file.
	if resp, b := e.do("DELETE", fileURL(u, fa), nil, nil); resp.StatusCode != 200 || string(b) != "ok" {
		t.Fatalf("delete file: %d %s", resp.StatusCode, b)
	}
	if resp, _ := e.do("GET", fileURL(u, fa), nil, nil); resp.StatusCode != 404 {
		t.Fatalf("deleted file: %d", resp.StatusCode)
	}
	if _, err := os.Stat(filepath.Join(e.dir, u.ID, fa.ID)); !os.IsNotExist(err) {
		t.Fatalf("deleted file data still on disk: %v", err)
	}
	// Delete the whole upload.
	if resp, b := e.do("DELETE", "/upload/"+u.ID, nil, map[string]string{"X-UploadToken": u.UploadToken}); resp.StatusCode != 200 || string(b) != "ok" {
		t.Fatalf("delete upload: %d %s", resp.StatusCode, b)
	}
	if resp, _ := e.do("GET", fileURL(u, fb), nil, nil); resp.StatusCode != 404 {
		t.Fatalf("file of deleted upload: %d", resp.StatusCode)
	}
	if _, err := os.Stat(filepath.Join(e.dir, u.ID)); !os.IsNotExist(err) {
		t.Fatalf("deleted upload data still on disk: %v", err)
	}
}

func TestPasswordProtectedUpload(t *testing.T) {
	e := newEnv(t, Config{})
	resp, b := e.do("POST", "/upload", strings.NewReader(`{"login":"foo","password":"bar"}`), nil)
	if resp.StatusCode != 200 {
		t.Fatalf("create: %d %s", resp.StatusCode, b)
	}
	auth := resp.Header.Get("Authorization")
	if auth != "Basic "+basicAuthValue("foo", "bar") {
		t.Fatalf("authorization header: %q", auth)
	}
	var u uploadJSON
	_ = json.Unmarshal(b, &u)
	if !u.ProtectedByPassword || u.Login != "" || u.Password != "" {
		t.Fatalf("upload: %s", b)
	}
	f := e.mustAddFile(&u, "p.txt", []byte("secret"))
	resp, _ = e.do("GET", fileURL(&u, f), nil, nil)
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("no credentials: %d", resp.StatusCode)
	}
	resp, got := e.do("GET", fileURL(&u, f), nil, map[string]string{"Authorization": auth})
	if resp.StatusCode != 200 || string(got) != "secret" {
		t.Fatalf("with credentials: %d %q", resp.StatusCode, got)
	}
}

func TestLegacyV1Format(t *testing.T) {
	e := newEnv(t, Config{})
	resp, b := e.do("POST", "/upload", strings.NewReader(`{"files":{"0":{"fileName":"v1.txt","reference":"0"}}}`), nil)
	if resp.StatusCode != 200 {
		t.Fatalf("create v1: %d %s", resp.StatusCode, b)
	}
	var v1 uploadV1JSON
	if err := json.Unmarshal(b, &v1); err != nil || len(v1.Files) != 1 || v1.Creation == 0 {
		t.Fatalf("v1 response: %s (%v)", b, err)
	}
	for id, f := range v1.Files {
		if id != f.ID || f.Name != "v1.txt" {
			t.Fatalf("v1 file: %s", b)
		}
	}
}

func TestQuickUpload(t *testing.T) {
	e := newEnv(t, Config{})
	body, ct := multipartBody(t, "q.txt", []byte("quick"))
	resp, b := e.do("POST", "/", body, map[string]string{"Content-Type": ct})
	if resp.StatusCode != 200 || !strings.HasPrefix(string(b), "http://") || !strings.HasSuffix(string(b), "/q.txt\n") {
		t.Fatalf("quick: %d %q", resp.StatusCode, b)
	}
	path := strings.TrimPrefix(strings.TrimSpace(string(b)), e.ts.URL)
	if resp, got := e.do("GET", path, nil, nil); resp.StatusCode != 200 || string(got) != "quick" {
		t.Fatalf("quick download: %d %q", resp.StatusCode, got)
	}
}

func TestLegacyRedirect(t *testing.T) {
	e := newEnv(t, Config{LegacyRedirect: true})
	path := "/file/nosuchupload00000/x/y"
	// Browser-like user agents get the webapp redirect ...
	req, _ := http.NewRequest("GET", e.ts.URL+path, nil)
	req.Header.Set("User-Agent", "node")
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 301 || !strings.HasPrefix(resp.Header.Get("Location"), "/#/?err=") {
		t.Fatalf("node UA: %d %v", resp.StatusCode, resp.Header)
	}
	// ... CLI user agents the plain error.
	if resp, _ := e.do("GET", path, nil, map[string]string{"User-Agent": "curl/8.0"}); resp.StatusCode != 404 {
		t.Fatalf("curl UA: %d", resp.StatusCode)
	}
}

func TestStaleDataDirCleanup(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, "AAAAAAAAAAAAAAAA")
	keep := filepath.Join(dir, "not-ours")
	for _, d := range []string{stale, keep} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := NewServer(Config{DataDir: dir, DefaultTTL: 60}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("stale upload dir kept: %v", err)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Fatalf("foreign dir removed: %v", err)
	}
}

// ---------------------------------------------------------------------------
// metadata persistence (-data-dir)

// restart simulates stopping the binary and starting it again on the same
// data dir: a new Server instance over e.dir (after a clean stop of e).
func (e *testEnv) restart(cfg Config) *testEnv {
	e.t.Helper()
	e.stop()
	cfg.DataDir, cfg.Persist = e.dir, true
	return newEnv(e.t, cfg)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// captureLog sends the log package's output to a buffer for the test.
func captureLog(t *testing.T) *syncBuffer {
	buf := &syncBuffer{}
	old := log.Writer()
	log.SetOutput(buf)
	t.Cleanup(func() { log.SetOutput(old) })
	return buf
}

func randomBytes(n int, seed int64) []byte {
	b := make([]byte, n)
	r := mathrand.New(mathrand.NewSource(seed))
	_, _ = r.Read(b)
	return b
}

func (e *testEnv) uploadStatus(u *uploadJSON) map[string]string {
	e.t.Helper()
	resp, b := e.do("GET", "/upload/"+u.ID, nil, map[string]string{"X-UploadToken": u.UploadToken})
	if resp.StatusCode != 200 {
		e.t.Fatalf("get upload %s: %d %s", u.ID, resp.StatusCode, b)
	}
	var meta uploadJSON
	if err := json.Unmarshal(b, &meta); err != nil {
		e.t.Fatal(err)
	}
	st := map[string]string{}
	for _, f := range meta.Files {
		st[f.Name] = f.Status
	}
	return st
}

func TestPersistRestartServesEarlierUploads(t *testing.T) {
	cfg := Config{DataDir: t.TempDir(), Persist: true, Token: "s3cret"}
	tok := map[string]string{"X-PlikToken": "s3cret"}
	e := newEnv(t, cfg)

	u := e.createUpload(`{"ttl": 3600, "comments": "keep me", "files":[{"fileName":"later.txt","reference":"r1"}]}`, tok)
	data := randomBytes(3<<20+17, 1) // binary, not a multiple of any buffer size
	f := e.mustAddFile(u, "data.bin", data)
	html := []byte("<html><body>x</body></html>")
	fh := e.mustAddFile(u, "page.html", html)

	resp, b := e.do("POST", "/upload", strings.NewReader(`{"login":"foo","password":"bar"}`), tok)
	if resp.StatusCode != 200 {
		t.Fatalf("create protected: %d %s", resp.StatusCode, b)
	}
	auth := resp.Header.Get("Authorization")
	var pu uploadJSON
	_ = json.Unmarshal(b, &pu)
	pf := e.mustAddFile(&pu, "p.txt", []byte("secret"))

	forever := e.createUpload(`{"ttl": -1}`, tok)

	respBefore, _ := e.do("GET", fileURL(u, f), nil, nil)
	_, adminBefore := e.do("GET", "/upload/"+u.ID, nil, map[string]string{"X-UploadToken": u.UploadToken})
	_, publicBefore := e.do("GET", "/upload/"+u.ID, nil, nil)
	_, foreverBefore := e.do("GET", "/upload/"+forever.ID, nil, nil)

	e = e.restart(cfg)

	// Same URL, same bytes, same headers.
	resp, got := e.do("GET", fileURL(u, f), nil, nil)
	if resp.StatusCode != 200 || !bytes.Equal(got, data) {
		t.Fatalf("download after restart: %d, %d bytes (md5 %s, want %s)", resp.StatusCode, len(got), md5of(got), md5of(data))
	}
	for _, h := range []string{"Content-Length", "Content-Type", "Content-Disposition", "Accept-Ranges"} {
		if resp.Header.Get(h) != respBefore.Header.Get(h) {
			t.Errorf("%s after restart: %q, before: %q", h, resp.Header.Get(h), respBefore.Header.Get(h))
		}
	}
	if resp, got := e.do("GET", fileURL(u, fh), nil, nil); resp.StatusCode != 200 || !bytes.Equal(got, html) ||
		resp.Header.Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("html after restart: %d %q %v", resp.StatusCode, got, resp.Header)
	}
	if resp, got := e.do("GET", fileURL(u, f), nil, map[string]string{"Range": "bytes=10-19"}); resp.StatusCode != 206 || !bytes.Equal(got, data[10:20]) {
		t.Fatalf("range after restart: %d", resp.StatusCode)
	}

	// Ids, tokens, TTL, dates, comments, files and their states: identical.
	_, adminAfter := e.do("GET", "/upload/"+u.ID, nil, map[string]string{"X-UploadToken": u.UploadToken})
	_, publicAfter := e.do("GET", "/upload/"+u.ID, nil, nil)
	_, foreverAfter := e.do("GET", "/upload/"+forever.ID, nil, nil)
	if !bytes.Equal(adminBefore, adminAfter) || !bytes.Equal(publicBefore, publicAfter) || !bytes.Equal(foreverBefore, foreverAfter) {
		t.Fatalf("upload changed across restart:\n%s\n%s\n%s\n%s\n%s\n%s", adminBefore, adminAfter, publicBefore, publicAfter, foreverBefore, foreverAfter)
	}
	if !strings.Contains(string(foreverAfter), `"ttl":-1`) || !strings.Contains(string(foreverAfter), `"expireAt":null`) {
		t.Fatalf("infinite ttl after restart: %s", foreverAfter)
	}

	// The upload token still works: upload into the declared slot.
	declared := &fileJSON{ID: u.Files[0].ID, Name: "later.txt"}
	if resp, b := e.addFile(fileURL(u, declared), u.UploadToken, "later.txt", []byte("later")); resp.StatusCode != 200 {
		t.Fatalf("declared upload after restart: %d %s", resp.StatusCode, b)
	}
	// The API token that created the upload still makes the caller admin.
	body, ct := multipartBody(t, "by-token.txt", []byte("t"))
	if resp, b := e.do("POST", "/file/"+u.ID, body, map[string]string{"Content-Type": ct, "X-PlikToken": "s3cret"}); resp.StatusCode != 200 {
		t.Fatalf("add file with api token after restart: %d %s", resp.StatusCode, b)
	}

	// Password protection survives.
	if resp, _ := e.do("GET", fileURL(&pu, pf), nil, nil); resp.StatusCode != 401 {
		t.Fatalf("protected without auth after restart: %d", resp.StatusCode)
	}
	if resp, got := e.do("GET", fileURL(&pu, pf), nil, map[string]string{"Authorization": auth}); resp.StatusCode != 200 || string(got) != "secret" {
		t.Fatalf("protected with auth after restart: %d %q", resp.StatusCode, got)
	}

	// Another restart, with another API token: the data is still there, but
	// the new token does not own uploads made with the old one.
	cfg.Token = "other"
	e = e.restart(cfg)
	if st := e.uploadStatus(u); st["data.bin"] != "uploaded" || st["later.txt"] != "uploaded" || st["by-token.txt"] != "uploaded" {
		t.Fatalf("statuses after second restart: %v", st)
	}
	body, ct = multipartBody(t, "x.txt", []byte("x"))
	if resp, b := e.do("POST", "/file/"+u.ID, body, map[string]string{"Content-Type": ct, "X-PlikToken": "other"}); resp.StatusCode != 403 {
		t.Fatalf("other api token: %d %s", resp.StatusCode, b)
	}
	if resp, got := e.do("GET", fileURL(u, f), nil, nil); resp.StatusCode != 200 || !bytes.Equal(got, data) {
		t.Fatalf("download after second restart: %d", resp.StatusCode)
	}

	// Metadata files are private and no temporary file is left behind.
	ents, err := os.ReadDir(filepath.Join(e.dir, "meta"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 3 {
		t.Fatalf("meta dir: %d entries", len(ents))
	}
	for _, de := range ents {
		fi, _ := de.Info()
		if !strings.HasSuffix(de.Name(), ".json") || fi.Mode().Perm() != 0o600 {
			t.Fatalf("meta entry %s %v", de.Name(), fi.Mode())
		}
	}
}

func TestPersistOneShotAndRemovedState(t *testing.T) {
	cfg := Config{DataDir: t.TempDir(), Persist: true}
	e := newEnv(t, cfg)
	u := e.createUpload(`{"oneShot": true, "removable": true}`, nil)
	da, db := []byte("first"), randomBytes(1<<20, 2)
	fa := e.mustAddFile(u, "a.bin", da)
	fb := e.mustAddFile(u, "b.bin", db)
	fd := e.mustAddFile(u, "d.bin", []byte("to delete"))
	if resp, got := e.do("GET", fileURL(u, fa), nil, nil); resp.StatusCode != 200 || !bytes.Equal(got, da) {
		t.Fatalf("one-shot download: %d", resp.StatusCode)
	}
	if resp, _ := e.do("DELETE", fileURL(u, fd), nil, nil); resp.StatusCode != 200 {
		t.Fatalf("delete file: %d", resp.StatusCode)
	}
	// HEAD does not consume a one-shot file.
	if resp, _ := e.do("HEAD", fileURL(u, fb), nil, nil); resp.StatusCode != 200 {
		t.Fatalf("head: %d", resp.StatusCode)
	}

	e = e.restart(cfg)
	for _, f := range []*fileJSON{fa, fd} {
		resp, b := e.do("GET", fileURL(u, f), nil, nil)
		if resp.StatusCode != 404 || !strings.Contains(string(b), "is not available : deleted") {
			t.Fatalf("consumed/removed %s after restart: %d %s", f.Name, resp.StatusCode, b)
		}
	}
	resp, got := e.do("GET", fileURL(u, fb), nil, nil)
	if resp.StatusCode != 200 || !bytes.Equal(got, db) || resp.Header.Get("Cache-Control") != "no-cache, no-store, must-revalidate" {
		t.Fatalf("one-shot after restart: %d %v", resp.StatusCode, resp.Header)
	}
	e = e.restart(cfg)
	if resp, b := e.do("GET", fileURL(u, fb), nil, nil); resp.StatusCode != 404 || !strings.Contains(string(b), "is not available : deleted") {
		t.Fatalf("second one-shot download after restart: %d %s", resp.StatusCode, b)
	}
	for _, f := range []*fileJSON{fa, fb, fd} {
		if _, err := os.Stat(filepath.Join(e.dir, u.ID, f.ID)); !os.IsNotExist(err) {
			t.Fatalf("data of %s still on disk: %v", f.Name, err)
		}
	}

	// A restart (crash) while a one-shot download is running: the file is
	// already "removed" on disk, the new server finishes the purge.
	fc := e.mustAddFile(u, "c.bin", bytes.Repeat([]byte("0123456789"), 3200000))
	dl, err := http.Get(e.ts.URL + fileURL(u, fc))
	if err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 10)
	if _, err := io.ReadFull(dl.Body, head); err != nil || dl.StatusCode != 200 {
		t.Fatalf("one-shot download start: %d %v", dl.StatusCode, err)
	}
	e2 := newEnv(t, cfg) // the old instance is left hanging, as if it had crashed
	if resp, b := e2.do("GET", fileURL(u, fc), nil, nil); resp.StatusCode != 404 || !strings.Contains(string(b), "is not available : deleted") {
		t.Fatalf("one-shot cut by a restart: %d %s", resp.StatusCode, b)
	}
	if _, err := os.Stat(filepath.Join(e.dir, u.ID, fc.ID)); !os.IsNotExist(err) {
		t.Fatalf("data of interrupted one-shot still on disk: %v", err)
	}
	dl.Body.Close()
	e.stop()

	// A crash during an upload: the file stays "uploading" (like a failed
	// upload in Plik) and its partial data is deleted.
	e = e2
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		fw, _ := mw.CreateFormFile("file", "partial.bin")
		_, _ = fw.Write(randomBytes(1<<20, 3))
		// ... and never finish
	}()
	req, _ := http.NewRequest("POST", e.ts.URL+"/file/"+u.ID, pr)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("X-UploadToken", u.UploadToken)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	var partial string
	deadline := time.Now().Add(10 * time.Second)
	for partial == "" {
		e.srv.mu.Lock()
		for _, id := range e.srv.uploads[u.ID].fileIDs {
			if f := e.srv.files[id]; f.name == "partial.bin" {
				if fi, err := os.Stat(e.srv.filePath(f)); err == nil && fi.Size() > 0 {
					partial = id
				}
			}
		}
		e.srv.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatal("partial upload not seen")
		}
		time.Sleep(10 * time.Millisecond)
	}
	e3 := newEnv(t, cfg)
	if st := e3.uploadStatus(u); st["partial.bin"] != "uploading" {
		t.Fatalf("interrupted upload after restart: %v", st)
	}
	if resp, b := e3.do("GET", fileURL(u, &fileJSON{ID: partial, Name: "partial.bin"}), nil, nil); resp.StatusCode != 404 || !strings.Contains(string(b), "is not available : uploading") {
		t.Fatalf("download of interrupted upload: %d %s", resp.StatusCode, b)
	}
	if _, err := os.Stat(filepath.Join(e.dir, u.ID, partial)); !os.IsNotExist(err) {
		t.Fatalf("partial data still on disk: %v", err)
	}
	pw.CloseWithError(io.ErrUnexpectedEOF)
	<-done
	e.stop()

	// A deleted upload stays deleted.
	e = e3
	if resp, _ := e.do("DELETE", "/upload/"+u.ID, nil, nil); resp.StatusCode != 200 {
		t.Fatalf("delete upload: %d", resp.StatusCode)
	}
	e = e.restart(cfg)
	if resp, b := e.do("GET", "/upload/"+u.ID, nil, nil); resp.StatusCode != 404 || !strings.Contains(string(b), "not found") {
		t.Fatalf("deleted upload after restart: %d %s", resp.StatusCode, b)
	}
	if _, err := os.Stat(filepath.Join(e.dir, u.ID)); !os.IsNotExist(err) {
		t.Fatalf("deleted upload data still on disk: %v", err)
	}
}

func TestPersistExpiry(t *testing.T) {
	cfg := Config{DataDir: t.TempDir(), Persist: true}
	e := newEnv(t, cfg)
	short := e.createUpload(`{"ttl": 2}`, nil)
	fs := e.mustAddFile(short, "short.txt", []byte("short-lived"))
	long := e.createUpload(`{"ttl": 3600}`, nil)
	fl := e.mustAddFile(long, "long.txt", []byte("long-lived"))

	e = e.restart(cfg)
	_, b := e.do("GET", "/upload/"+short.ID, nil, nil)
	var meta uploadJSON
	if err := json.Unmarshal(b, &meta); err != nil || meta.ExpireAt == nil || !meta.ExpireAt.Equal(*short.ExpireAt) || meta.TTL != 2 {
		t.Fatalf("expiry after restart: %s (want expireAt %v)", b, short.ExpireAt)
	}
	if resp, _ := e.do("GET", fileURL(short, fs), nil, nil); resp.StatusCode != 200 {
		t.Fatalf("before expiry: %d", resp.StatusCode)
	}
	time.Sleep(time.Until(*short.ExpireAt) + 200*time.Millisecond)

	// Expired, not swept yet: "has expired", also after a restart.
	e = e.restart(cfg)
	if resp, b := e.do("GET", fileURL(short, fs), nil, nil); resp.StatusCode != 404 || !strings.Contains(string(b), "has expired") {
		t.Fatalf("expired after restart: %d %s", resp.StatusCode, b)
	}
	if n := e.srv.Sweep(); n != 1 {
		t.Fatalf("sweep removed %d uploads", n)
	}
	for _, p := range []string{filepath.Join(e.dir, short.ID), filepath.Join(e.dir, "meta", short.ID+".json")} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Fatalf("%s still on disk after sweep: %v", p, err)
		}
	}
	e = e.restart(cfg)
	if resp, b := e.do("GET", fileURL(short, fs), nil, nil); resp.StatusCode != 404 || !strings.Contains(string(b), "not found") {
		t.Fatalf("swept upload after restart: %d %s", resp.StatusCode, b)
	}
	if resp, got := e.do("GET", fileURL(long, fl), nil, nil); resp.StatusCode != 200 || string(got) != "long-lived" {
		t.Fatalf("unexpired upload after restart: %d %q", resp.StatusCode, got)
	}
}

func TestPersistCorruptMetaSkipped(t *testing.T) {
	cfg := Config{DataDir: t.TempDir(), Persist: true}
	e := newEnv(t, cfg)
	good := e.createUpload("", nil)
	fg := e.mustAddFile(good, "good.txt", []byte("good"))
	partial := e.createUpload("", nil)
	e.mustAddFile(partial, "p.txt", []byte("p"))
	mismatch := e.createUpload("", nil)
	e.stop()

	metaDir := filepath.Join(cfg.DataDir, "meta")
	metaOf := func(id string) string { return filepath.Join(metaDir, id+".json") }
	// A truncated file (as a non-atomic writer would leave it) ...
	b, err := os.ReadFile(metaOf(partial.ID))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(metaOf(partial.ID), b[:len(b)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	// ... valid JSON about another upload, garbage, an empty file ...
	b, _ = os.ReadFile(metaOf(good.ID))
	_ = os.WriteFile(metaOf(mismatch.ID), b, 0o600)
	_ = os.WriteFile(metaOf("GGGGGGGGGGGGGGGG"), []byte("\x00\x01not json"), 0o600)
	_ = os.WriteFile(metaOf("EEEEEEEEEEEEEEEE"), nil, 0o600)
	// ... the temporary file of an interrupted write (the old version is intact) ...
	tmp := metaOf(good.ID) + ".tmp-123456"
	_ = os.WriteFile(tmp, b[:10], 0o600)
	// ... and an upload directory no metadata refers to.
	orphan := filepath.Join(cfg.DataDir, "OOOOOOOOOOOOOOOO")
	_ = os.MkdirAll(orphan, 0o755)
	_ = os.WriteFile(filepath.Join(orphan, "XXXXXXXXXXXXXXXX"), []byte("x"), 0o644)
	foreign := filepath.Join(cfg.DataDir, "not-ours")
	_ = os.MkdirAll(foreign, 0o755)

	logs := captureLog(t)
	e = newEnv(t, cfg)
	out := logs.String()
	for _, id := range []string{partial.ID, mismatch.ID, "GGGGGGGGGGGGGGGG", "EEEEEEEEEEEEEEEE"} {
		if !strings.Contains(out, "skipping unreadable metadata file "+metaOf(id)) {
			t.Errorf("no log line for %s in:\n%s", id, out)
		}
	}
	t.Logf("start-up log:\n%s", out)

	if resp, got := e.do("GET", fileURL(good, fg), nil, nil); resp.StatusCode != 200 || string(got) != "good" {
		t.Fatalf("good upload: %d %q", resp.StatusCode, got)
	}
	if resp, _ := e.do("GET", "/upload/"+partial.ID, nil, nil); resp.StatusCode != 404 {
		t.Fatalf("corrupt upload: %d", resp.StatusCode)
	}
	// Skipped uploads are left alone (data and metadata), for a human to look at.
	for _, p := range []string{filepath.Join(cfg.DataDir, partial.ID), metaOf(partial.ID), foreign} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s should be kept: %v", p, err)
		}
	}
	for _, p := range []string{tmp, orphan} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Fatalf("%s should be deleted: %v", p, err)
		}
	}
	// The server keeps working and writing metadata.
	u := e.createUpload("", nil)
	e.mustAddFile(u, "new.txt", []byte("new"))
	if _, err := os.Stat(metaOf(u.ID)); err != nil {
		t.Fatal(err)
	}
}

// Concurrent readers of the meta dir never see a partly written file.
func TestPersistMetaWritesAreAtomic(t *testing.T) {
	cfg := Config{DataDir: t.TempDir(), Persist: true}
	e := newEnv(t, cfg)
	metaDir := filepath.Join(cfg.DataDir, "meta")
	stop := make(chan struct{})
	errs := make(chan error, 1)
	reads := 0
	go func() {
		defer close(errs)
		for {
			select {
			case <-stop:
				return
			default:
			}
			ents, _ := os.ReadDir(metaDir)
			for _, de := range ents {
				if !strings.HasSuffix(de.Name(), ".json") {
					continue
				}
				b, err := os.ReadFile(filepath.Join(metaDir, de.Name()))
				if os.IsNotExist(err) {
					continue
				}
				var m metaUploadRecord
				if err == nil {
					err = json.Unmarshal(b, &m)
				}
				if err != nil {
					errs <- fmt.Errorf("%s: %v (%q)", de.Name(), err, b)
					return
				}
				reads++
			}
		}
	}()
	for i := 0; i < 12; i++ {
		u := e.createUpload(`{"removable": true}`, nil)
		for j := 0; j < 8; j++ {
			e.mustAddFile(u, fmt.Sprintf("f%d.txt", j), bytes.Repeat([]byte{'x'}, 100*j))
		}
		if i%2 == 0 {
			e.do("DELETE", "/upload/"+u.ID, nil, nil)
		}
	}
	close(stop)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	t.Logf("%d reads of meta files", reads)
	ents, _ := os.ReadDir(metaDir)
	if len(ents) != 6 {
		t.Fatalf("meta dir has %d entries, want 6", len(ents))
	}
}

func TestNoPersistenceWithoutDataDir(t *testing.T) {
	e := newEnv(t, Config{})
	u := e.createUpload("", nil)
	e.mustAddFile(u, "a.txt", []byte("a"))
	if _, err := os.Stat(filepath.Join(e.dir, "meta")); !os.IsNotExist(err) {
		t.Fatalf("meta dir created without persistence: %v", err)
	}
	// Restarting without persistence forgets (and deletes) everything.
	e.stop()
	e2 := newEnv(t, Config{DataDir: e.dir})
	if resp, _ := e2.do("GET", "/upload/"+u.ID, nil, nil); resp.StatusCode != 404 {
		t.Fatalf("upload after non-persistent restart: %d", resp.StatusCode)
	}
	if _, err := os.Stat(filepath.Join(e.dir, u.ID)); !os.IsNotExist(err) {
		t.Fatalf("old data kept: %v", err)
	}
}

// When metadata cannot be written, the change is refused (500) and undone, so
// what clients were told always matches what a restart will load.
func TestPersistWriteFailureIsRefused(t *testing.T) {
	cfg := Config{DataDir: t.TempDir(), Persist: true}
	e := newEnv(t, cfg)
	u := e.createUpload(`{"oneShot": true, "removable": true, "files":[{"fileName":"declared.txt"}]}`, nil)
	f := e.mustAddFile(u, "a.txt", []byte("A"))

	// Break the meta dir (a regular file in its place fails even for root).
	metaDir := filepath.Join(cfg.DataDir, "meta")
	if err := os.Rename(metaDir, metaDir+".saved"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(metaDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_ = captureLog(t)

	if resp, b := e.do("POST", "/upload", strings.NewReader("{}"), nil); resp.StatusCode != 500 {
		t.Fatalf("create upload: %d %s", resp.StatusCode, b)
	}
	if resp, b := e.addFile("/file/"+u.ID, u.UploadToken, "b.txt", []byte("B")); resp.StatusCode != 500 {
		t.Fatalf("add file: %d %s", resp.StatusCode, b)
	}
	declared := &fileJSON{ID: u.Files[0].ID, Name: "declared.txt"}
	if resp, b := e.addFile(fileURL(u, declared), u.UploadToken, "declared.txt", []byte("D")); resp.StatusCode != 500 {
		t.Fatalf("add declared file: %d %s", resp.StatusCode, b)
	}
	if resp, b := e.do("GET", fileURL(u, f), nil, nil); resp.StatusCode != 500 {
		t.Fatalf("one-shot download: %d %s", resp.StatusCode, b)
	}
	if resp, b := e.do("DELETE", fileURL(u, f), nil, nil); resp.StatusCode != 500 {
		t.Fatalf("delete file: %d %s", resp.StatusCode, b)
	}
	if resp, b := e.do("DELETE", "/upload/"+u.ID, nil, nil); resp.StatusCode != 500 {
		t.Fatalf("delete upload: %d %s", resp.StatusCode, b)
	}
	e.srv.mu.Lock()
	nUploads := len(e.srv.uploads)
	e.srv.mu.Unlock()
	if st := e.uploadStatus(u); nUploads != 1 || len(st) != 2 || st["a.txt"] != "uploaded" || st["declared.txt"] != "missing" {
		t.Fatalf("state after refused changes: %d uploads, %v", nUploads, st)
	}

	// Repaired: everything works again, and a restart sees the same state.
	if err := os.Remove(metaDir); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(metaDir+".saved", metaDir); err != nil {
		t.Fatal(err)
	}
	e = e.restart(cfg)
	if st := e.uploadStatus(u); len(st) != 2 || st["a.txt"] != "uploaded" || st["declared.txt"] != "missing" {
		t.Fatalf("state after restart: %v", st)
	}
	if resp, got := e.do("GET", fileURL(u, f), nil, nil); resp.StatusCode != 200 || string(got) != "A" {
		t.Fatalf("one-shot download after repair: %d %q", resp.StatusCode, got)
	}
}
