package main

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math/big"
	"time"
)

// File status values, as used by Plik (server/common/file.go).
const (
	statusMissing   = "missing"   // declared, waiting for data
	statusUploading = "uploading" // data is being received (or a failed upload)
	statusUploaded  = "uploaded"  // ready to be downloaded
	statusRemoved   = "removed"   // no longer downloadable, data not yet deleted
	statusDeleted   = "deleted"   // data deleted from disk
)

// fileJSON is the wire shape of a Plik file object.
type fileJSON struct {
	ID        string    `json:"id"`
	Name      string    `json:"fileName"`
	Status    string    `json:"status"`
	Md5       string    `json:"fileMd5"`
	Type      string    `json:"fileType"`
	Size      int64     `json:"fileSize"`
	Reference string    `json:"reference"`
	CreatedAt time.Time `json:"createdAt"`
}

// uploadJSON is the wire shape of a Plik upload object (Plik >= 1.3). It is
// also what POST /upload accepts as parameters; fields the server controls
// (id, uploadToken, createdAt, ...) are ignored on input, as Plik does.
type uploadJSON struct {
	ID             string      `json:"id"`
	TTL            int         `json:"ttl"`
	DownloadDomain string      `json:"downloadDomain"`
	RemoteIP       string      `json:"uploadIp,omitempty"`
	Comments       string      `json:"comments"`
	Files          []*fileJSON `json:"files"`
	UploadToken    string      `json:"uploadToken,omitempty"`
	User           string      `json:"user,omitempty"`
	Token          string      `json:"token,omitempty"`
	IsAdmin        bool        `json:"admin"`
	Stream         bool        `json:"stream"`
	OneShot        bool        `json:"oneShot"`
	Removable      bool        `json:"removable"`

	ProtectedByPassword bool   `json:"protectedByPassword"`
	Login               string `json:"login,omitempty"`
	Password            string `json:"password,omitempty"`

	CreatedAt time.Time  `json:"createdAt"`
	ExpireAt  *time.Time `json:"expireAt"`
	ExtendTTL bool       `json:"extend_ttl"`
}

// uploadV1JSON is the pre-1.3 wire shape (files keyed by id, uploadDate in
// unix seconds). Plik still accepts it on POST /upload and answers in the
// same format when the request used it (server/common/compat.go).
type uploadV1JSON struct {
	ID             string               `json:"id"`
	Creation       int64                `json:"uploadDate"`
	TTL            int                  `json:"ttl"`
	DownloadDomain string               `json:"downloadDomain"`
	RemoteIP       string               `json:"uploadIp,omitempty"`
	Comments       string               `json:"comments"`
	Files          map[string]*fileJSON `json:"files"`
	UploadToken    string               `json:"uploadToken,omitempty"`
	User           string               `json:"user,omitempty"`
	Token          string               `json:"token,omitempty"`
	IsAdmin        bool                 `json:"admin"`
	Stream         bool                 `json:"stream"`
	OneShot        bool                 `json:"oneShot"`
	Removable      bool                 `json:"removable"`

	ProtectedByPassword bool   `json:"protectedByPassword"`
	Login               string `json:"login,omitempty"`
	Password            string `json:"password,omitempty"`
}

// parseUploadParams decodes a POST /upload body. It returns the format
// version (0 = current, 1 = legacy map-of-files) like Plik's UnmarshalUpload.
func parseUploadParams(body []byte) (*uploadJSON, int, error) {
	params := &uploadJSON{}
	if len(body) == 0 {
		return params, 0, nil
	}
	err := json.Unmarshal(body, params)
	if err == nil {
		return params, 0, nil
	}
	v1 := &uploadV1JSON{}
	if err := json.Unmarshal(body, v1); err != nil {
		return nil, -1, err
	}
	params = &uploadJSON{
		TTL:       v1.TTL,
		Comments:  v1.Comments,
		Stream:    v1.Stream,
		OneShot:   v1.OneShot,
		Removable: v1.Removable,
		Login:     v1.Login,
		Password:  v1.Password,
	}
	for _, f := range v1.Files {
		if f != nil {
			params.Files = append(params.Files, f)
		}
	}
	return params, 1, nil
}

// marshalUpload renders an upload in the requested format version.
func marshalUpload(u *uploadJSON, version int) ([]byte, error) {
	if version != 1 {
		return json.Marshal(u)
	}
	v1 := &uploadV1JSON{
		ID:                  u.ID,
		Creation:            u.CreatedAt.Unix(),
		TTL:                 u.TTL,
		DownloadDomain:      u.DownloadDomain,
		Comments:            u.Comments,
		UploadToken:         u.UploadToken,
		Stream:              u.Stream,
		OneShot:             u.OneShot,
		Removable:           u.Removable,
		ProtectedByPassword: u.ProtectedByPassword,
		Files:               map[string]*fileJSON{},
	}
	for _, f := range u.Files {
		v1.Files[f.ID] = f
	}
	return json.Marshal(v1)
}

// configJSON mirrors the public fields of Plik's Configuration (GET /config),
// Plik 1.3.x layout with feature flags plus the deprecated booleans.
type configJSON struct {
	MaxFileSize         int64    `json:"maxFileSize"`
	MaxUserSize         int64    `json:"maxUserSize"`
	MaxFilePerUpload    int      `json:"maxFilePerUpload"`
	DefaultTTL          int      `json:"defaultTTL"`
	MaxTTL              int      `json:"maxTTL"`
	DownloadDomain      string   `json:"downloadDomain"`
	DownloadDomainAlias []string `json:"downloadDomainAlias"`
	AbuseContact        string   `json:"abuseContact"`

	FeatureAuthentication string `json:"feature_authentication"`
	FeatureOneShot        string `json:"feature_one_shot"`
	FeatureRemovable      string `json:"feature_removable"`
	FeatureStream         string `json:"feature_stream"`
	FeaturePassword       string `json:"feature_password"`
	FeatureComments       string `json:"feature_comments"`
	FeatureSetTTL         string `json:"feature_set_ttl"`
	FeatureExtendTTL      string `json:"feature_extend_ttl"`
	FeatureClients        string `json:"feature_clients"`
	FeatureGithub         string `json:"feature_github"`
	FeatureText           string `json:"feature_text"`

	Authentication      bool `json:"authentication"`
	NoAnonymousUploads  bool `json:"noAnonymousUploads"`
	OneShot             bool `json:"oneShot"`
	Removable           bool `json:"removable"`
	Stream              bool `json:"stream"`
	ProtectedByPassword bool `json:"protectedByPassword"`

	GoogleAuthentication bool   `json:"googleAuthentication"`
	OvhAuthentication    bool   `json:"ovhAuthentication"`
	OvhAPIEndpoint       string `json:"ovhApiEndpoint"`
}

// buildInfoJSON mirrors Plik's BuildInfo (GET /version).
type buildInfoJSON struct {
	Version          string `json:"version"`
	Date             int64  `json:"date"`
	User             string `json:"user,omitempty"`
	Host             string `json:"host,omitempty"`
	GitShortRevision string `json:"gitShortRevision,omitempty"`
	GitFullRevision  string `json:"gitFullRevision,omitempty"`
	IsRelease        bool   `json:"isRelease"`
	IsMint           bool   `json:"isMint"`
	GoVersion        string `json:"goVersion,omitempty"`
	Clients          []any  `json:"clients"`
	Releases         []any  `json:"releases"`
}

var idRunes = []byte("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")

// randomID returns an alphanumeric random string (Plik uses 16 chars for
// upload/file ids and 32 for upload tokens).
func randomID(n int) string {
	max := big.NewInt(int64(len(idRunes)))
	b := make([]byte, n)
	for i := range b {
		v, err := rand.Int(rand.Reader, max)
		if err != nil {
			panic(fmt.Sprintf("crypto/rand failed: %v", err))
		}
		b[i] = idRunes[v.Int64()]
	}
	return string(b)
}

// humanBytes formats a size like github.com/dustin/go-humanize Bytes (SI
// units), which Plik uses in its size error messages.
func humanBytes(s int64) string {
	if s < 10 {
		return fmt.Sprintf("%d B", s)
	}
	units := []string{"B", "kB", "MB", "GB", "TB", "PB", "EB"}
	val := float64(s)
	i := 0
	for val >= 1000 && i < len(units)-1 {
		val /= 1000
		i++
	}
	if val < 10 {
		return fmt.Sprintf("%.1f %s", val, units[i])
	}
	return fmt.Sprintf("%.0f %s", val, units[i])
}
