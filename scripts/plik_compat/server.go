package main

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Config holds the stand-in's settings (the subset of plikd.cfg we emulate).
type Config struct {
	DataDir     string
	DefaultTTL  int    // seconds; 0 means "no expiration" (as in Plik)
	MaxTTL      int    // seconds; 0 means unlimited
	Token       string // when set: FeatureAuthentication = "forced" with this single API token
	MaxFileSize int64  // bytes; 0 means unlimited

	// LegacyRedirect reproduces Plik <= 1.3.x: errors on file download
	// routes answer "301 -> /#/?err=..." unless the User-Agent starts with a
	// known CLI prefix (curl, wget, go-http-client, ...).
	LegacyRedirect bool
	LogRequests    bool

	// Persist keeps upload and file metadata in DataDir/meta (one JSON file
	// per upload, see persist.go) and reloads it at start, so uploads survive
	// a restart as with Plik's metadata database. Without it metadata lives in
	// memory only and upload directories found in DataDir at start are
	// deleted.
	Persist bool
}

// Plik's default MaxFilePerUpload.
const maxFilePerUpload = 1000

// file is the server-side file record.
type file struct {
	id        string
	uploadID  string
	name      string
	status    string
	md5       string
	typ       string
	size      int64
	reference string
	createdAt time.Time
}

func (f *file) view() *fileJSON {
	return &fileJSON{
		ID: f.id, Name: f.name, Status: f.status, Md5: f.md5, Type: f.typ,
		Size: f.size, Reference: f.reference, CreatedAt: f.createdAt,
	}
}

// upload is the server-side upload record.
type upload struct {
	id           string
	uploadToken  string
	apiTokenHash string // SHA-256 hex of the X-PlikToken used to create it (never exposed)
	ttl          int
	comments     string
	stream       bool
	oneShot      bool
	removable    bool
	extendTTL    bool
	protected    bool
	login        string
	passwordHash string // md5 hex of the base64 "login:password" string, as Plik stores it
	createdAt    time.Time
	expireAt     *time.Time
	fileIDs      []string
}

func (u *upload) expired(now time.Time) bool {
	return u.expireAt != nil && now.After(*u.expireAt)
}

// Server is the Plik API stand-in.
type Server struct {
	cfg Config

	mu      sync.Mutex
	uploads map[string]*upload
	files   map[string]*file
	// upload ids of metadata files that could not be loaded: never reused,
	// and their data directories are left alone.
	reserved  map[string]bool
	tokenHash string // SHA-256 hex of cfg.Token ("" without a token)

	stop     chan struct{}
	stopOnce sync.Once
}

// NewServer validates cfg and prepares the data directory.
func NewServer(cfg Config) (*Server, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("data dir is required")
	}
	if cfg.MaxTTL > 0 && cfg.DefaultTTL > cfg.MaxTTL {
		return nil, errors.New("DefaultTTL should not be more than MaxTTL")
	}
	if cfg.MaxFileSize < 0 {
		cfg.MaxFileSize = 0
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:      cfg,
		uploads:  map[string]*upload{},
		files:    map[string]*file{},
		reserved: map[string]bool{},
		stop:     make(chan struct{}),
	}
	if cfg.Token != "" {
		s.tokenHash = sha256hex(cfg.Token)
	}
	if cfg.Persist {
		s.mu.Lock()
		err := s.loadMetadata()
		s.mu.Unlock()
		if err != nil {
			return nil, fmt.Errorf("unable to load metadata: %w", err)
		}
		return s, nil
	}
	// Metadata lives in memory only, so data left by a previous run is
	// unreachable: drop the directories this program created (upload ids).
	if entries, err := os.ReadDir(cfg.DataDir); err == nil {
		for _, e := range entries {
			if e.IsDir() && idRe.MatchString(e.Name()) {
				_ = os.RemoveAll(filepath.Join(cfg.DataDir, e.Name()))
			}
		}
	}
	return s, nil
}

// idRe matches upload and file ids (also the names of upload directories).
var idRe = regexp.MustCompile(`^[A-Za-z0-9]{16}$`)

// Handler returns the HTTP routes, mirroring Plik's router for the API
// subset implemented here.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /config", s.handleConfig)
	mux.HandleFunc("GET /version", s.handleVersion)
	mux.HandleFunc("POST /{$}", s.handleQuickUpload)
	mux.HandleFunc("POST /upload", s.handleCreateUpload)
	mux.HandleFunc("GET /upload/{uploadID}", s.handleGetUpload)
	mux.HandleFunc("DELETE /upload/{uploadID}", s.handleRemoveUpload)
	mux.HandleFunc("POST /file/{uploadID}", s.handleAddFile)
	for _, mode := range []string{"file", "stream"} {
		p := "/" + mode + "/{uploadID}/{fileID}/{filename}"
		mux.HandleFunc("POST "+p, s.handleAddFile)
		mux.HandleFunc("DELETE "+p, s.handleRemoveFile)
		mux.HandleFunc("GET "+p, s.handleGetFile) // GET patterns also match HEAD
	}
	var h http.Handler = mux
	if s.cfg.LogRequests {
		h = logRequests(h)
	}
	return h
}

// StartSweeper deletes expired uploads every interval until Close.
func (s *Server) StartSweeper(interval time.Duration) {
	if interval <= 0 {
		return
	}
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				s.Sweep()
			}
		}
	}()
}

// Close stops the sweeper.
func (s *Server) Close() { s.stopOnce.Do(func() { close(s.stop) }) }

// Sweep removes expired uploads and deletes their data from disk. It returns
// the number of uploads removed.
func (s *Server) Sweep() int {
	now := time.Now()
	s.mu.Lock()
	var expired []*upload
	for _, u := range s.uploads {
		if u.expired(now) {
			expired = append(expired, u)
		}
	}
	var paths []string
	removed := 0
	for _, u := range expired {
		p, err := s.removeUploadLocked(u)
		if err != nil {
			log.Printf("unable to remove expired upload %s: %v", u.id, err)
			continue
		}
		paths = append(paths, p...)
		removed++
	}
	s.mu.Unlock()
	if removed > 0 {
		s.syncMetaDir()
	}
	deletePaths(paths)
	return removed
}

// ---------------------------------------------------------------------------
// errors

var cliUserAgents = []string{"wget", "curl", "python-urllib", "libwwww-perl", "php", "pycurl", "go-http-client", "plik_client"}

// fail writes a Plik-style error: a plain text message (http.Error). On
// download routes with -legacy-redirect it mimics the old webapp redirect.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, redirectable bool, status int, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if redirectable && s.cfg.LegacyRedirect {
		ua := strings.ToLower(r.UserAgent())
		redirect := true
		for _, p := range cliUserAgents {
			if strings.HasPrefix(ua, p) {
				redirect = false
			}
		}
		if redirect {
			http.Redirect(w, r, fmt.Sprintf("/#/?err=%s&errcode=%d&uri=%s", msg, status, r.RequestURI), http.StatusMovedPermanently)
			return
		}
	}
	http.Error(w, msg, status)
}

// Plik hides internal errors behind this message when not in debug mode.
func (s *Server) internalError(w http.ResponseWriter, r *http.Request, redirectable bool, context string, err error) {
	log.Printf("internal error: %s: %v", context, err)
	s.fail(w, r, redirectable, http.StatusInternalServerError, "internal server error")
}

// ---------------------------------------------------------------------------
// authentication / lookup "middlewares"

// authToken emulates Plik's Authenticate(allowToken=true) middleware with a
// single configured API token. It returns whether the request carries the
// valid token; ok=false means a response was already written.
func (s *Server) authToken(w http.ResponseWriter, r *http.Request, redirectable bool) (valid, ok bool) {
	if s.cfg.Token == "" {
		return false, true // authentication disabled: header ignored
	}
	h := r.Header.Get("X-PlikToken")
	if h == "" {
		return false, true
	}
	if h != s.cfg.Token {
		s.fail(w, r, redirectable, http.StatusForbidden, "invalid token")
		return false, false
	}
	return true, true
}

// lookupUpload emulates Plik's Upload middleware. Must be called with s.mu held.
func (s *Server) lookupUploadLocked(w http.ResponseWriter, r *http.Request, redirectable, tokenValid bool) (*upload, bool, bool) {
	id := r.PathValue("uploadID")
	if id == "" {
		s.fail(w, r, redirectable, http.StatusBadRequest, "missing upload id")
		return nil, false, false
	}
	u := s.uploads[id]
	if u == nil {
		s.fail(w, r, redirectable, http.StatusNotFound, "upload %s not found", id)
		return nil, false, false
	}
	if u.expired(time.Now()) {
		s.fail(w, r, redirectable, http.StatusNotFound, "upload %s has expired", id)
		return nil, false, false
	}

	admin := false
	if t := r.Header.Get("X-UploadToken"); t != "" && t == u.uploadToken {
		admin = true
	} else if tokenValid && u.apiTokenHash != "" && u.apiTokenHash == s.tokenHash {
		admin = true
	}

	if u.protected && !admin {
		unauthorized := func(reason string) {
			w.Header().Set("WWW-Authenticate", `Basic realm="plik"`)
			// Plik never redirects here so browsers can prompt for credentials.
			s.fail(w, r, false, http.StatusUnauthorized, "please provide valid credentials to access this upload : %s", reason)
		}
		auth := r.Header.Get("Authorization")
		if auth == "" {
			unauthorized("missing Authorization header")
			return nil, false, false
		}
		parts := strings.Split(auth, " ")
		if len(parts) != 2 {
			unauthorized("invalid Authorization header")
			return nil, false, false
		}
		if parts[0] != "Basic" {
			unauthorized("invalid http authorization scheme")
			return nil, false, false
		}
		if md5hex(parts[1]) != u.passwordHash {
			unauthorized("invalid credentials")
			return nil, false, false
		}
	}
	return u, admin, true
}

// lookupFileLocked emulates Plik's File middleware. Must be called with s.mu held.
func (s *Server) lookupFileLocked(w http.ResponseWriter, r *http.Request, redirectable bool, u *upload) (*file, bool) {
	fileID := r.PathValue("fileID")
	if fileID == "" {
		s.fail(w, r, redirectable, http.StatusBadRequest, "missing file ID")
		return nil, false
	}
	name := r.PathValue("filename")
	if name == "" {
		s.fail(w, r, redirectable, http.StatusBadRequest, "missing file name")
		return nil, false
	}
	f := s.files[fileID]
	if f == nil {
		s.fail(w, r, redirectable, http.StatusNotFound, "file %s not found", fileID)
		return nil, false
	}
	if f.uploadID != u.id {
		// Plik answers 500 ("invalid file upload id") in this case.
		s.internalError(w, r, redirectable, "invalid file upload id", nil)
		return nil, false
	}
	if f.name != name {
		s.fail(w, r, redirectable, http.StatusBadRequest, "invalid file name")
		return nil, false
	}
	return f, true
}

// ---------------------------------------------------------------------------
// misc handlers

func (s *Server) handleConfig(w http.ResponseWriter, r *http.Request) {
	maxFileSize := s.cfg.MaxFileSize
	if maxFileSize == 0 {
		maxFileSize = -1 // Plik's "unlimited"
	}
	auth := "disabled"
	if s.cfg.Token != "" {
		auth = "forced"
	}
	writeJSON(w, &configJSON{
		MaxFileSize:           maxFileSize,
		MaxUserSize:           -1,
		MaxFilePerUpload:      maxFilePerUpload,
		DefaultTTL:            s.cfg.DefaultTTL,
		MaxTTL:                s.cfg.MaxTTL,
		FeatureAuthentication: auth,
		FeatureOneShot:        "enabled",
		FeatureRemovable:      "enabled",
		FeatureStream:         "disabled",
		FeaturePassword:       "enabled",
		FeatureComments:       "enabled",
		FeatureSetTTL:         "enabled",
		FeatureExtendTTL:      "disabled",
		FeatureClients:        "disabled",
		FeatureGithub:         "disabled",
		FeatureText:           "enabled",
		Authentication:        s.cfg.Token != "",
		NoAnonymousUploads:    s.cfg.Token != "",
		OneShot:               true,
		Removable:             true,
		Stream:                false,
		ProtectedByPassword:   true,
		OvhAPIEndpoint:        "https://eu.api.ovh.com/1.0",
	})
}

func (s *Server) handleVersion(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, &buildInfoJSON{
		Version:   "1.3.8",
		Host:      "plik-compat (natsbridge stand-in, not a real Plik build)",
		GoVersion: runtime.Version(),
		Clients:   []any{},
		Releases:  []any{},
	})
}

// writeJSON writes a JSON body the way Plik does: without setting a
// Content-Type (net/http then sniffs "text/plain; charset=utf-8").
func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "internal server error", http.StatusInternalServerError)
		return
	}
	_, _ = w.Write(b)
}

// ---------------------------------------------------------------------------
// uploads

// createUploadLocked applies Plik's CreateUpload rules (context/upload.go).
func (s *Server) createUploadLocked(params *uploadJSON, tokenValid bool) (*upload, error) {
	u := &upload{id: s.newUploadIDLocked(), uploadToken: randomID(32)}

	// setUser
	if s.cfg.Token != "" && !tokenValid {
		return nil, errors.New("anonymous uploads are disabled")
	}
	if tokenValid {
		u.apiTokenHash = s.tokenHash
	}

	// setParams
	u.oneShot = params.OneShot
	u.removable = params.Removable
	if params.Stream {
		return nil, errors.New("streaming uploads are disabled")
	}
	u.comments = params.Comments

	// setTTL
	if params.ExtendTTL {
		return nil, errors.New("extend TTL is disabled")
	}
	ttl := params.TTL
	if ttl == 0 {
		ttl = s.cfg.DefaultTTL
	}
	if s.cfg.MaxTTL > 0 {
		if ttl <= 0 {
			return nil, fmt.Errorf("cannot set infinite TTL (maximum allowed is : %d)", s.cfg.MaxTTL)
		}
		if ttl > s.cfg.MaxTTL {
			return nil, fmt.Errorf("invalid TTL. (maximum allowed is : %d)", s.cfg.MaxTTL)
		}
	}
	u.ttl = ttl
	u.createdAt = time.Now()
	if ttl > 0 {
		exp := u.createdAt.Add(time.Duration(ttl) * time.Second)
		u.expireAt = &exp
	}

	// setBasicAuth
	if params.Password != "" {
		u.login = params.Login
		if u.login == "" {
			u.login = "plik"
		}
		u.protected = true
		// Plik hashes the header built from the login as *sent* (possibly
		// empty), not the defaulted "plik" login.
		u.passwordHash = md5hex(basicAuthValue(params.Login, params.Password))
	}

	// setFiles
	if len(params.Files) > maxFilePerUpload {
		return nil, fmt.Errorf("too many files. maximum is %d", maxFilePerUpload)
	}
	var newFiles []*file
	for _, fp := range params.Files {
		if fp == nil {
			fp = &fileJSON{}
		}
		f, err := s.newFileLocked(u, fp.Name, fp.Type, fp.Size, fp.Reference)
		if err != nil {
			return nil, err
		}
		newFiles = append(newFiles, f)
	}
	for _, f := range newFiles {
		s.files[f.id] = f
		u.fileIDs = append(u.fileIDs, f.id)
	}
	s.uploads[u.id] = u
	if err := s.saveLocked(u); err != nil {
		for _, id := range u.fileIDs {
			delete(s.files, id)
		}
		delete(s.uploads, u.id)
		return nil, &persistError{err}
	}
	return u, nil
}

func (s *Server) newUploadIDLocked() string {
	for {
		id := randomID(16)
		if _, taken := s.uploads[id]; !taken && !s.reserved[id] {
			return id
		}
	}
}

// failCreate answers a createUploadLocked error.
func (s *Server) failCreate(w http.ResponseWriter, r *http.Request, err error) {
	var pe *persistError
	if errors.As(err, &pe) {
		s.internalError(w, r, false, "unable to create upload", pe.err)
		return
	}
	s.fail(w, r, false, http.StatusBadRequest, "unable to create upload : %s", err)
}

// newFileLocked applies Plik's CreateFile checks; it does not register the file.
func (s *Server) newFileLocked(u *upload, name, typ string, size int64, ref string) (*file, error) {
	if name == "" {
		return nil, errors.New("missing file name")
	}
	if len(name) > 1024 {
		return nil, fmt.Errorf("file name %s... is too long, maximum length is 1024 characters", name[:20])
	}
	if size > 0 && s.cfg.MaxFileSize > 0 && size > s.cfg.MaxFileSize {
		return nil, fmt.Errorf("file is too big (%s), maximum file size is %s", humanBytes(size), humanBytes(s.cfg.MaxFileSize))
	}
	var id string
	for {
		id = randomID(16)
		if _, taken := s.files[id]; !taken {
			break
		}
	}
	return &file{
		id: id, uploadID: u.id, name: name, status: statusMissing,
		typ: typ, size: size, reference: ref, createdAt: time.Now(),
	}, nil
}

// viewLocked renders an upload; files=nil reproduces Plik's "files": null.
func (s *Server) viewLocked(u *upload, admin bool, withFiles bool) *uploadJSON {
	v := &uploadJSON{
		ID: u.id, TTL: u.ttl, Comments: u.comments, IsAdmin: admin,
		Stream: u.stream, OneShot: u.oneShot, Removable: u.removable,
		ProtectedByPassword: u.protected, CreatedAt: u.createdAt,
		ExtendTTL: u.extendTTL,
	}
	if u.expireAt != nil {
		e := *u.expireAt
		v.ExpireAt = &e
	}
	if admin {
		v.UploadToken = u.uploadToken
	}
	if withFiles || len(u.fileIDs) > 0 {
		v.Files = []*fileJSON{}
		for _, id := range u.fileIDs {
			if f := s.files[id]; f != nil {
				v.Files = append(v.Files, f.view())
			}
		}
	}
	return v
}

// POST /upload
func (s *Server) handleCreateUpload(w http.ResponseWriter, r *http.Request) {
	tokenValid, ok := s.authToken(w, r, false)
	if !ok {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1048576)
	body, err := io.ReadAll(r.Body)
	if err != nil {
		s.fail(w, r, false, http.StatusBadRequest, "unable to read request body : %s", err)
		return
	}
	params, version, err := parseUploadParams(body)
	if err != nil {
		s.fail(w, r, false, http.StatusBadRequest, "unable to deserialize request body : %s", err)
		return
	}

	s.mu.Lock()
	u, err := s.createUploadLocked(params, tokenValid)
	if err != nil {
		s.mu.Unlock()
		s.failCreate(w, r, err)
		return
	}
	// The creation response carries "files": null when no file was declared,
	// as Plik's freshly built upload object has a nil slice.
	view := s.viewLocked(u, true, false)
	s.mu.Unlock()

	if u.protected {
		w.Header().Add("Authorization", "Basic "+basicAuthValue(params.Login, params.Password))
	}
	b, err := marshalUpload(view, version)
	if err != nil {
		s.internalError(w, r, false, "unable to serialize upload", err)
		return
	}
	_, _ = w.Write(b)
}

// GET /upload/{uploadID}
func (s *Server) handleGetUpload(w http.ResponseWriter, r *http.Request) {
	// Plik routes this through the session-only auth chain: X-PlikToken is
	// neither checked nor used here.
	s.mu.Lock()
	u, admin, ok := s.lookupUploadLocked(w, r, false, false)
	if !ok {
		s.mu.Unlock()
		return
	}
	view := s.viewLocked(u, admin, true)
	s.mu.Unlock()
	writeJSON(w, view)
}

// DELETE /upload/{uploadID}
func (s *Server) handleRemoveUpload(w http.ResponseWriter, r *http.Request) {
	tokenValid, ok := s.authToken(w, r, false)
	if !ok {
		return
	}
	s.mu.Lock()
	u, admin, ok := s.lookupUploadLocked(w, r, false, tokenValid)
	if !ok {
		s.mu.Unlock()
		return
	}
	if !u.removable && !admin {
		s.mu.Unlock()
		s.fail(w, r, false, http.StatusForbidden, "you are not allowed to remove this upload")
		return
	}
	paths, err := s.removeUploadLocked(u)
	s.mu.Unlock()
	if err != nil {
		s.internalError(w, r, false, "unable to remove upload", err)
		return
	}
	s.syncMetaDir()
	deletePaths(paths)
	_, _ = w.Write([]byte("ok"))
}

// removeUploadLocked soft-deletes an upload (it becomes 404) and returns the
// on-disk paths to delete once the lock is released. With persistence its
// metadata file is deleted first; if that fails nothing is changed.
func (s *Server) removeUploadLocked(u *upload) ([]string, error) {
	if err := s.removeMetaLocked(u.id); err != nil {
		return nil, err
	}
	for _, id := range u.fileIDs {
		if f := s.files[id]; f != nil {
			s.removeFileLocked(f)
			delete(s.files, id)
		}
	}
	delete(s.uploads, u.id)
	return []string{s.uploadDir(u.id)}, nil
}

// removeFileLocked follows Plik's metadata RemoveFile + purge: missing files
// go straight to "deleted"; uploaded files are "removed" and their data
// purged (the status then becomes "deleted"). An in-flight upload is marked
// "removed"; it notices the change and discards its data. Returns the paths
// to delete once the lock is released.
func (s *Server) removeFileLocked(f *file) []string {
	switch f.status {
	case statusMissing, "":
		f.status = statusDeleted
	case statusUploaded, statusRemoved:
		f.status = statusRemoved
		return s.purgeLocked(f)
	case statusUploading:
		f.status = statusRemoved
	}
	return nil
}

// purgeLocked marks a removed file "deleted" and returns its data path, to
// be deleted once the lock is released. Open readers (a download in
// progress) keep working on POSIX systems after the unlink.
func (s *Server) purgeLocked(f *file) []string {
	if f.status != statusRemoved {
		return nil
	}
	f.status = statusDeleted
	return []string{s.filePath(f)}
}

// deletePaths removes files/directories from disk (outside the lock: a
// multi-GB unlink can take a while).
func deletePaths(paths []string) {
	for _, p := range paths {
		if err := os.RemoveAll(p); err != nil {
			log.Printf("unable to delete %s: %v", p, err)
		}
	}
}

func (s *Server) uploadDir(uploadID string) string { return filepath.Join(s.cfg.DataDir, uploadID) }
func (s *Server) filePath(f *file) string          { return filepath.Join(s.cfg.DataDir, f.uploadID, f.id) }

// ---------------------------------------------------------------------------
// files

// POST / (quick upload): create an upload with default parameters, add the
// file, answer with its URL as text.
func (s *Server) handleQuickUpload(w http.ResponseWriter, r *http.Request) {
	tokenValid, ok := s.authToken(w, r, false)
	if !ok {
		return
	}
	s.mu.Lock()
	u, err := s.createUploadLocked(&uploadJSON{}, tokenValid)
	s.mu.Unlock()
	if err != nil {
		s.failCreate(w, r, err)
		return
	}
	s.addFile(w, r, u, nil, true)
}

// POST /file/{uploadID} and POST /file/{uploadID}/{fileID}/{filename}
func (s *Server) handleAddFile(w http.ResponseWriter, r *http.Request) {
	tokenValid, ok := s.authToken(w, r, false)
	if !ok {
		return
	}
	s.mu.Lock()
	u, admin, ok := s.lookupUploadLocked(w, r, false, tokenValid)
	if !ok {
		s.mu.Unlock()
		return
	}
	var f *file
	if r.PathValue("fileID") != "" {
		if f, ok = s.lookupFileLocked(w, r, false, u); !ok {
			s.mu.Unlock()
			return
		}
	}
	s.mu.Unlock()
	if !admin {
		s.fail(w, r, false, http.StatusForbidden, "you are not allowed to add file to this upload")
		return
	}
	s.addFile(w, r, u, f, false)
}

type uploadError struct {
	status int
	msg    string
}

func (e *uploadError) Error() string { return e.msg }

func (s *Server) addFile(w http.ResponseWriter, r *http.Request, u *upload, f *file, quick bool) {
	mr, err := r.MultipartReader()
	if err != nil {
		s.fail(w, r, false, http.StatusBadRequest, "invalid multipart form : %s", err)
		return
	}
	var part io.Reader
	var fileName string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			s.fail(w, r, false, http.StatusBadRequest, "invalid multipart form : %s", err)
			return
		}
		if p.FormName() == "file" {
			part = p
			fileName = p.FileName()
			break
		}
	}
	if part == nil {
		s.fail(w, r, false, http.StatusBadRequest, "missing file from multipart form")
		return
	}
	if fileName == "" {
		s.fail(w, r, false, http.StatusBadRequest, "missing file name from multipart form")
		return
	}

	s.mu.Lock()
	if s.uploads[u.id] != u {
		s.mu.Unlock()
		s.fail(w, r, false, http.StatusNotFound, "upload %s not found", u.id)
		return
	}
	newFile := f == nil
	if f == nil {
		if len(u.fileIDs) >= maxFilePerUpload {
			s.mu.Unlock()
			s.fail(w, r, false, http.StatusBadRequest, "maximum number file per upload reached, limit is %d", maxFilePerUpload)
			return
		}
		f, err = s.newFileLocked(u, fileName, "", 0, "")
		if err != nil {
			s.mu.Unlock()
			s.fail(w, r, false, http.StatusBadRequest, "unable to create file : %s", err)
			return
		}
		s.files[f.id] = f
		u.fileIDs = append(u.fileIDs, f.id)
	} else if f.name != fileName {
		s.mu.Unlock()
		s.fail(w, r, false, http.StatusBadRequest, "invalid file name")
		return
	}
	if f.status != statusMissing {
		st := f.status
		s.mu.Unlock()
		s.fail(w, r, false, http.StatusBadRequest, "invalid file status %s, expected %s", st, statusMissing)
		return
	}
	f.status = statusUploading
	// Recorded before any data is written: after a crash the file is then
	// known to be incomplete (see persist.go).
	if err := s.saveLocked(u); err != nil {
		if newFile {
			delete(s.files, f.id)
			u.fileIDs = u.fileIDs[:len(u.fileIDs)-1]
		} else {
			f.status = statusMissing
		}
		s.mu.Unlock()
		s.internalError(w, r, false, "unable to save upload metadata", err)
		return
	}
	s.mu.Unlock()

	size, sum, mime, err := s.store(f, part)

	s.mu.Lock()
	if err == nil && (f.status != statusUploading || s.uploads[u.id] != u) {
		// removed while we were receiving it (Plik fails UpdateFile here)
		err = errors.New("file status changed during upload")
	}
	if err != nil {
		// Plik leaves a failed file in "uploading" (not retryable) and its
		// partial data is purged.
		paths := []string{s.filePath(f)}
		if s.uploads[u.id] != u {
			paths = append(paths, s.uploadDir(u.id)) // upload deleted meanwhile
		}
		if f.status == statusRemoved {
			f.status = statusDeleted
		}
		s.saveOrLogLocked(u)
		s.mu.Unlock()
		deletePaths(paths)
		var ue *uploadError
		if errors.As(err, &ue) {
			s.fail(w, r, false, ue.status, "%s", ue.msg)
		} else {
			s.internalError(w, r, false, "unable to save file", err)
		}
		return
	}
	oldSize, oldMd5, oldTyp := f.size, f.md5, f.typ
	f.size, f.md5, f.typ = size, sum, mime
	f.status = statusUploaded
	if err := s.saveLocked(u); err != nil {
		// Not recorded: treat it like any failed upload.
		f.size, f.md5, f.typ = oldSize, oldMd5, oldTyp
		f.status = statusUploading
		s.mu.Unlock()
		deletePaths([]string{s.filePath(f)})
		s.internalError(w, r, false, "unable to save upload metadata", err)
		return
	}
	view := f.view()
	s.mu.Unlock()

	if quick {
		_, _ = fmt.Fprintf(w, "http://%s/file/%s/%s/%s\n", r.Host, u.id, f.id, f.name)
		return
	}
	writeJSON(w, view)
}

// store streams the part to disk with bounded memory, computing size, md5
// and the sniffed content type, and enforcing the max file size.
func (s *Server) store(f *file, src io.Reader) (size int64, sum, mime string, err error) {
	if err := os.MkdirAll(s.uploadDir(f.uploadID), 0o755); err != nil {
		return 0, "", "", err
	}
	out, err := os.OpenFile(s.filePath(f), os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return 0, "", "", err
	}
	defer func() {
		if cerr := out.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()

	h := md5.New()
	cw := &limitedWriter{w: io.MultiWriter(out, h), max: s.cfg.MaxFileSize}
	if s.cfg.Persist {
		// "uploaded" is recorded only for data that is on disk for good.
		defer func() {
			if err == nil {
				err = out.Sync()
			}
		}()
	}

	// Content type is sniffed from the first bytes, like Plik's preprocessor.
	head := make([]byte, 512)
	n, rerr := io.ReadFull(src, head)
	if rerr != nil && rerr != io.EOF && rerr != io.ErrUnexpectedEOF {
		return 0, "", "", &uploadError{http.StatusInternalServerError, "unable to read data from request body : " + rerr.Error()}
	}
	if n > 0 {
		mime = http.DetectContentType(head[:n])
		if _, err := cw.Write(head[:n]); err != nil {
			return 0, "", "", err
		}
	}
	if rerr == nil {
		buf := make([]byte, 256*1024)
		for {
			m, rerr := src.Read(buf)
			if m > 0 {
				if _, err := cw.Write(buf[:m]); err != nil {
					return 0, "", "", err
				}
			}
			if rerr == io.EOF {
				break
			}
			if rerr != nil {
				return 0, "", "", &uploadError{http.StatusInternalServerError, "unable to read data from request body : " + rerr.Error()}
			}
		}
	}
	return cw.n, hex.EncodeToString(h.Sum(nil)), mime, nil
}

type limitedWriter struct {
	w   io.Writer
	n   int64
	max int64
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.max > 0 && l.n+int64(len(p)) > l.max {
		return 0, &uploadError{http.StatusBadRequest, fmt.Sprintf("file too big (limit is set to %s)", humanBytes(l.max))}
	}
	n, err := l.w.Write(p)
	l.n += int64(n)
	return n, err
}

// DELETE /file/{uploadID}/{fileID}/{filename}
func (s *Server) handleRemoveFile(w http.ResponseWriter, r *http.Request) {
	tokenValid, ok := s.authToken(w, r, false)
	if !ok {
		return
	}
	s.mu.Lock()
	u, admin, ok := s.lookupUploadLocked(w, r, false, tokenValid)
	if !ok {
		s.mu.Unlock()
		return
	}
	f, ok := s.lookupFileLocked(w, r, false, u)
	if !ok {
		s.mu.Unlock()
		return
	}
	if !u.removable && !admin {
		s.mu.Unlock()
		s.fail(w, r, false, http.StatusForbidden, "you are not allowed to remove files from this upload")
		return
	}
	oldStatus := f.status
	paths := s.removeFileLocked(f)
	if err := s.saveLocked(u); err != nil {
		f.status = oldStatus
		s.mu.Unlock()
		s.internalError(w, r, false, "unable to save upload metadata", err)
		return
	}
	s.mu.Unlock()
	deletePaths(paths)
	_, _ = w.Write([]byte("ok"))
}

// GET|HEAD /file/{uploadID}/{fileID}/{filename}
func (s *Server) handleGetFile(w http.ResponseWriter, r *http.Request) {
	tokenValid, ok := s.authToken(w, r, true)
	if !ok {
		return
	}
	s.mu.Lock()
	u, _, ok := s.lookupUploadLocked(w, r, true, tokenValid)
	if !ok {
		s.mu.Unlock()
		return
	}
	f, ok := s.lookupFileLocked(w, r, true, u)
	if !ok {
		s.mu.Unlock()
		return
	}
	if f.status != statusUploaded {
		name, id, st := f.name, f.id, f.status
		s.mu.Unlock()
		s.fail(w, r, true, http.StatusNotFound, "file %s (%s) is not available : %s", name, id, st)
		return
	}
	oneShot := u.oneShot
	if r.Method == http.MethodGet && oneShot {
		// One-shot: the file is consumed as soon as a download starts (and
		// that is on disk before the first byte is sent).
		f.status = statusRemoved
		if err := s.saveLocked(u); err != nil {
			f.status = statusUploaded
			s.mu.Unlock()
			s.internalError(w, r, true, "unable to save upload metadata", err)
			return
		}
	}
	// Open while holding the lock so a concurrent removal cannot race us.
	var data *os.File
	var openErr error
	if r.Method == http.MethodGet || !oneShot {
		data, openErr = os.Open(s.filePath(f))
	}
	name, typ, size := f.name, f.typ, f.size
	s.mu.Unlock()

	defer func() {
		if data != nil {
			_ = data.Close()
		}
		if r.Method == http.MethodGet && oneShot {
			s.mu.Lock()
			paths := s.purgeLocked(f)
			if len(paths) > 0 {
				s.saveOrLogLocked(u)
			}
			s.mu.Unlock()
			deletePaths(paths)
		}
	}()
	if openErr != nil {
		s.internalError(w, r, true, "unable to get file from data backend", openErr)
		return
	}

	// Neutralize content types that a browser could execute (Plik master).
	if typ == "" || strings.Contains(typ, "html") || strings.Contains(typ, "svg") ||
		strings.Contains(typ, "xml") || strings.Contains(typ, "javascript") ||
		strings.Contains(typ, "flash") || strings.Contains(typ, "pdf") {
		typ = "application/octet-stream"
	}
	hdr := w.Header()
	hdr.Set("Content-Type", typ)
	if oneShot {
		hdr.Set("Cache-Control", "no-cache, no-store, must-revalidate")
		hdr.Set("Pragma", "no-cache")
		hdr.Set("Expires", "0")
	}
	if r.URL.Query().Get("dl") != "" {
		hdr.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s"`, dispositionName(name)))
	} else {
		hdr.Set("Content-Disposition", fmt.Sprintf(`filename="%s"`, dispositionName(name)))
	}

	if !oneShot {
		// Range / conditional requests supported, HEAD handled.
		http.ServeContent(w, r, name, time.Time{}, data)
		return
	}
	if size > 0 {
		hdr.Set("Content-Length", strconv.FormatInt(size, 10))
	}
	if r.Method != http.MethodGet {
		return
	}
	if _, err := io.Copy(w, data); err != nil {
		log.Printf("error while copying file to response : %s", err)
	}
}

// dispositionName keeps the filename from breaking out of the quoted
// Content-Disposition parameter.
func dispositionName(name string) string {
	return strings.Map(func(r rune) rune {
		if r == '"' || r == '\\' || r < 0x20 || r == 0x7f {
			return '_'
		}
		return r
	}, name)
}

// ---------------------------------------------------------------------------
// helpers

func basicAuthValue(login, password string) string {
	return base64.StdEncoding.EncodeToString([]byte(login + ":" + password))
}

func md5hex(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// ReadFrom keeps the sendfile fast path for downloads.
func (s *statusRecorder) ReadFrom(r io.Reader) (int64, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	if rf, ok := s.ResponseWriter.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(s.ResponseWriter, r)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		st := rec.status
		if st == 0 {
			st = http.StatusOK
		}
		log.Printf("%s %s -> %d (%s)", r.Method, r.URL.Path, st, time.Since(start).Round(time.Millisecond))
	})
}
