package objstore

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"

	"github.com/minio/minio-go/v7"

	"github.com/fastcapa-go/fastcapa/store"
)

// Reader reads back a store the sink uploaded under a bucket's prefix:
// its captures, by the names store.Classify gives a directory's entries,
// and their sidecar indexes. It only reads.
type Reader struct {
	u *Uploader
}

// NewReader checks spec and the bucket, as New does.
func NewReader(spec Spec) (*Reader, error) {
	u, err := New(spec)
	if err != nil {
		return nil, err
	}
	return &Reader{u: u}, nil
}

// Close closes the Reader's idle connections.
func (r *Reader) Close() error { return r.u.Close() }

// Stored is a capture in the bucket.
type Stored struct {
	Key     string // the object's key, the prefix included
	Size    int64
	Sidecar string // the key of its sidecar index, "" if it has none
	// SidecarETag is the sidecar's ETag as listed: another one is
	// another sidecar.
	SidecarETag string
}

// URL is the object's s3:// URL, the name queries give it.
func (r *Reader) URL(key string) string { return "s3://" + r.u.spec.Bucket + "/" + key }

// List lists the captures under the prefix in key order, as store.Walk
// would see them in a directory: keys under a hidden element (the sink's
// temporaries never reach a bucket, but other tools' may) are skipped,
// and so are sidecars, dead letters and hidden names, a sidecar being
// given with its capture.
func (r *Reader) List(ctx context.Context) ([]Stored, error) {
	prefix := strings.TrimSuffix(r.u.spec.Prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	var out []Stored
	sidecars := map[string]minio.ObjectInfo{} // capture key → its sidecar
	for obj := range r.u.core.Client.ListObjects(ctx, r.u.spec.Bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if obj.Err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", r.u.spec.Bucket, prefix, r.u.explain(obj.Err))
		}
		rel := strings.TrimPrefix(obj.Key, prefix)
		dir, name := path.Split(rel)
		if hiddenDir(dir) {
			continue
		}
		e := store.Classify(name, 0) // a regular file
		switch {
		case e.Kind == store.Capture:
			out = append(out, Stored{Key: obj.Key, Size: obj.Size})
		case e.Kind == store.Sidecar && e.Of != "":
			sidecars[prefix+dir+e.Of] = obj
		}
	}
	for i := range out {
		sc := sidecars[out[i].Key]
		out[i].Sidecar, out[i].SidecarETag = sc.Key, sc.ETag
	}
	return out, nil
}

// hiddenDir reports whether a key's directory part has a hidden element.
func hiddenDir(dir string) bool {
	for _, el := range strings.Split(strings.TrimSuffix(dir, "/"), "/") {
		if strings.HasPrefix(el, ".") {
			return true
		}
	}
	return false
}

// Open reads an object from its start. It is read with ranged GETs from
// where the reading is (minio's Object), so a reader that stops early
// fetches little more than it read.
func (r *Reader) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	obj, err := r.u.core.Client.GetObject(ctx, r.u.spec.Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.URL(key), r.u.explain(err))
	}
	return obj, nil
}

// maxSidecar bounds a sidecar index read whole (the largest is about
// 41 KiB).
const maxSidecar = 1 << 20

// ReadSidecar reads a sidecar index object whole.
func (r *Reader) ReadSidecar(ctx context.Context, key string) ([]byte, error) {
	rc, err := r.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxSidecar+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.URL(key), r.u.explain(err))
	}
	if len(b) > maxSidecar {
		return nil, fmt.Errorf("%s: over %d bytes: %w", r.URL(key), maxSidecar, fs.ErrInvalid)
	}
	return b, nil
}
