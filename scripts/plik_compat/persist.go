package main

// Metadata persistence (Config.Persist, i.e. an explicit -data-dir).
//
// Real Plik keeps upload and file metadata in a database beside the data, so
// uploads survive a restart. Here each upload is one JSON file,
// DataDir/meta/{uploadID}.json, holding the upload and all its files. It is
// rewritten in full on every change, while the server lock is held (so writes
// happen in the same order as the changes), and always by "write a temporary
// file in the same directory, fsync it, rename it over the old one, fsync the
// directory". A crash therefore leaves either the old or the new version, never
// a mix. Leftover temporary files are deleted at start.
//
// Ordering rules that keep data and metadata consistent after a crash:
//   - the metadata of an upload is written before any of its data;
//   - a file is recorded as "uploading" before its data is written, and as
//     "uploaded" only after the data was written and fsynced. At start, the
//     data of every file that is not "uploaded" is deleted (a crash during an
//     upload leaves the file "uploading", like a failed upload in Plik);
//   - one-shot: "removed" is recorded before the first byte is sent. At start,
//     "removed" files (their download was cut by the restart) get the purge
//     they were waiting for: the data is deleted and the status becomes
//     "deleted";
//   - deleting an upload removes its metadata file first, then its data. Upload
//     directories that no metadata file refers to are deleted at start.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

const (
	metaDirName       = "meta"
	metaFormatVersion = 1
	// A meta file holds at most 1000 files with names up to 1024 bytes, far
	// below this; anything larger is not ours.
	maxMetaFileSize = 16 << 20
)

var metaNameRe = regexp.MustCompile(`^([A-Za-z0-9]{16})\.json$`)

// metaFileRecord is the on-disk form of a file.
type metaFileRecord struct {
	ID        string    `json:"id"`
	Name      string    `json:"fileName"`
	Status    string    `json:"status"`
	Md5       string    `json:"fileMd5"`
	Type      string    `json:"fileType"`
	Size      int64     `json:"fileSize"`
	Reference string    `json:"reference"`
	CreatedAt time.Time `json:"createdAt"`
}

// metaUploadRecord is the on-disk form of an upload and its files (in order).
type metaUploadRecord struct {
	Version     int    `json:"version"`
	ID          string `json:"id"`
	UploadToken string `json:"uploadToken"`
	// SHA-256 of the API token (-token) the upload was created with, so the
	// token itself is not written to disk.
	APITokenHash string            `json:"apiTokenSha256,omitempty"`
	TTL          int               `json:"ttl"`
	Comments     string            `json:"comments"`
	Stream       bool              `json:"stream"`
	OneShot      bool              `json:"oneShot"`
	Removable    bool              `json:"removable"`
	ExtendTTL    bool              `json:"extendTTL"`
	Protected    bool              `json:"protectedByPassword"`
	Login        string            `json:"login,omitempty"`
	PasswordHash string            `json:"passwordHash,omitempty"`
	CreatedAt    time.Time         `json:"createdAt"`
	ExpireAt     *time.Time        `json:"expireAt"`
	Files        []*metaFileRecord `json:"files"`
}

// persistError marks a failure to write metadata (answered with a 500).
type persistError struct{ err error }

func (e *persistError) Error() string { return "unable to save metadata: " + e.err.Error() }
func (e *persistError) Unwrap() error { return e.err }

func sha256hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func (s *Server) metaDir() string           { return filepath.Join(s.cfg.DataDir, metaDirName) }
func (s *Server) metaPath(id string) string { return filepath.Join(s.metaDir(), id+".json") }

// recordLocked builds the on-disk form of u. Must be called with s.mu held.
func (s *Server) recordLocked(u *upload) *metaUploadRecord {
	m := &metaUploadRecord{
		Version: metaFormatVersion, ID: u.id, UploadToken: u.uploadToken,
		APITokenHash: u.apiTokenHash, TTL: u.ttl, Comments: u.comments,
		Stream: u.stream, OneShot: u.oneShot, Removable: u.removable,
		ExtendTTL: u.extendTTL, Protected: u.protected, Login: u.login,
		PasswordHash: u.passwordHash, CreatedAt: u.createdAt, ExpireAt: u.expireAt,
		Files: []*metaFileRecord{},
	}
	for _, id := range u.fileIDs {
		if f := s.files[id]; f != nil {
			m.Files = append(m.Files, &metaFileRecord{
				ID: f.id, Name: f.name, Status: f.status, Md5: f.md5, Type: f.typ,
				Size: f.size, Reference: f.reference, CreatedAt: f.createdAt,
			})
		}
	}
	return m
}

// saveLocked writes u's metadata file (atomically, durably). It does nothing
// without persistence or when u is no longer a live upload (deleted or swept
// meanwhile: its metadata file is gone and must stay gone). Must be called
// with s.mu held.
func (s *Server) saveLocked(u *upload) error {
	if !s.cfg.Persist || s.uploads[u.id] != u {
		return nil
	}
	b, err := json.Marshal(s.recordLocked(u))
	if err != nil {
		return err
	}
	return writeFileAtomic(s.metaPath(u.id), b)
}

// saveOrLogLocked is saveLocked for changes that cannot be undone; a failure
// is logged (the state on disk is then older, and is repaired at start).
func (s *Server) saveOrLogLocked(u *upload) {
	if err := s.saveLocked(u); err != nil {
		log.Printf("unable to save metadata of upload %s: %v", u.id, err)
	}
}

// removeMetaLocked deletes u's metadata file (without syncing the directory,
// see syncMetaDir). Must be called with s.mu held.
func (s *Server) removeMetaLocked(id string) error {
	if !s.cfg.Persist {
		return nil
	}
	if err := os.Remove(s.metaPath(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// syncMetaDir makes metadata file removals durable.
func (s *Server) syncMetaDir() {
	if s.cfg.Persist {
		syncDir(s.metaDir())
	}
}

// writeFileAtomic replaces path with data: temporary file in the same
// directory, fsync, rename, fsync of the directory. Readers (and a restart
// after a crash) see either the old content or the new one.
func writeFileAtomic(path string, data []byte) (err error) {
	dir, base := filepath.Split(path)
	tmp, err := os.CreateTemp(dir, base+".tmp-*") // mode 0600: holds upload tokens
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	syncDir(dir)
	return nil
}

// syncDir fsyncs a directory so renames/removals in it survive a power loss.
// Best effort: some filesystems and platforms refuse to sync directories.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}

// loadMetadata reads DataDir/meta at start, registers the uploads found there,
// finishes what a crash or restart interrupted, and deletes data no metadata
// refers to. Unreadable metadata files are skipped with a log line; they and
// their data directory are left alone (and their upload id is never reused).
func (s *Server) loadMetadata() error {
	dir := s.metaDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var loaded []*upload
	for _, e := range entries {
		name := e.Name()
		path := filepath.Join(dir, name)
		if strings.Contains(name, ".json.tmp-") {
			// An interrupted write; the file it was replacing is intact.
			log.Printf("removing leftover temporary metadata file %s", path)
			_ = os.Remove(path)
			continue
		}
		m := metaNameRe.FindStringSubmatch(name)
		if m == nil || !e.Type().IsRegular() {
			continue
		}
		u, files, err := readMetaFile(path, m[1])
		if err == nil {
			for _, f := range files {
				if s.files[f.id] != nil {
					err = fmt.Errorf("file id %s is also used by upload %s", f.id, s.files[f.id].uploadID)
					break
				}
			}
		}
		if err != nil {
			log.Printf("skipping unreadable metadata file %s: %v", path, err)
			s.reserved[m[1]] = true
			continue
		}
		for _, f := range files {
			s.files[f.id] = f
		}
		s.uploads[u.id] = u
		loaded = append(loaded, u)
	}

	// Finish interrupted work and delete data that is not (or no longer)
	// downloadable.
	for _, u := range loaded {
		keep := map[string]bool{}
		changed := false
		for _, id := range u.fileIDs {
			f := s.files[id]
			switch f.status {
			case statusUploaded:
				keep[f.id] = true
			case statusRemoved:
				f.status = statusDeleted
				changed = true
			}
		}
		if ents, err := os.ReadDir(s.uploadDir(u.id)); err == nil {
			for _, de := range ents {
				if !keep[de.Name()] {
					deletePaths([]string{filepath.Join(s.uploadDir(u.id), de.Name())})
				}
			}
		}
		if changed {
			s.saveOrLogLocked(u)
		}
	}

	// Upload directories without metadata: left by a crash between deleting
	// the metadata and the data, or by a run without persistence.
	if ents, err := os.ReadDir(s.cfg.DataDir); err == nil {
		for _, de := range ents {
			id := de.Name()
			if de.IsDir() && idRe.MatchString(id) && s.uploads[id] == nil && !s.reserved[id] {
				deletePaths([]string{filepath.Join(s.cfg.DataDir, id)})
			}
		}
	}
	log.Printf("loaded metadata of %d upload(s) from %s", len(loaded), dir)
	return nil
}

// readMetaFile parses and checks one metadata file.
func readMetaFile(path, id string) (*upload, []*file, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, maxMetaFileSize+1))
	if err != nil {
		return nil, nil, err
	}
	if len(b) > maxMetaFileSize {
		return nil, nil, fmt.Errorf("larger than %d bytes", maxMetaFileSize)
	}
	var m metaUploadRecord
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, nil, err
	}
	switch {
	case m.Version != metaFormatVersion:
		return nil, nil, fmt.Errorf("unsupported format version %d", m.Version)
	case m.ID != id:
		return nil, nil, fmt.Errorf("upload id %q does not match the file name", m.ID)
	case m.UploadToken == "":
		return nil, nil, errors.New("missing upload token")
	case m.CreatedAt.IsZero():
		return nil, nil, errors.New("missing creation date")
	case len(m.Files) > maxFilePerUpload:
		return nil, nil, fmt.Errorf("too many files (%d)", len(m.Files))
	}
	u := &upload{
		id: m.ID, uploadToken: m.UploadToken, apiTokenHash: m.APITokenHash,
		ttl: m.TTL, comments: m.Comments, stream: m.Stream, oneShot: m.OneShot,
		removable: m.Removable, extendTTL: m.ExtendTTL, protected: m.Protected,
		login: m.Login, passwordHash: m.PasswordHash, createdAt: m.CreatedAt,
		expireAt: m.ExpireAt,
	}
	var files []*file
	seen := map[string]bool{}
	for _, fr := range m.Files {
		if fr == nil {
			return nil, nil, errors.New("null file record")
		}
		if !idRe.MatchString(fr.ID) {
			return nil, nil, fmt.Errorf("invalid file id %q", fr.ID)
		}
		if seen[fr.ID] {
			return nil, nil, fmt.Errorf("duplicate file id %s", fr.ID)
		}
		seen[fr.ID] = true
		if fr.Name == "" {
			return nil, nil, fmt.Errorf("file %s has no name", fr.ID)
		}
		switch fr.Status {
		case statusMissing, statusUploading, statusUploaded, statusRemoved, statusDeleted:
		default:
			return nil, nil, fmt.Errorf("file %s has an invalid status %q", fr.ID, fr.Status)
		}
		files = append(files, &file{
			id: fr.ID, uploadID: u.id, name: fr.Name, status: fr.Status,
			md5: fr.Md5, typ: fr.Type, size: fr.Size, reference: fr.Reference,
			createdAt: fr.CreatedAt,
		})
		u.fileIDs = append(u.fileIDs, fr.ID)
	}
	return u, files, nil
}
