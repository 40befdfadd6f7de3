package objstore

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Uploader puts files into one bucket. Its methods are safe for
// concurrent use: several files may be uploaded at once, each on its own
// connection.
type Uploader struct {
	spec  Spec        // with defaults
	creds Credentials // resolved
	core  *minio.Core
	log   *slog.Logger

	closeIdle func()
	closed    atomic.Bool

	objects, existing, bytes, retries, failures atomic.Uint64
}

// Object is an object Upload confirmed.
type Object struct {
	Bucket string
	// Key is Spec.Prefix joined to the key given to Upload, with a
	// numeric suffix when that key held another object ("a.pcap" →
	// "a.1.pcap", "a.pcap.zst" → "a.1.pcap.zst", "a" → "a.1").
	Key string
	// Name is Key without Spec.Prefix: the key given to Upload, with
	// the same suffix (what the sink names a file's sidecar after).
	Name string
	Size int64
	// ETag is the server's: the hex MD5 of the file for a single PUT
	// (Parts 0), or for a multipart upload the MD5 of the parts' MD5s
	// followed by "-" and the number of parts. Upload checked it either
	// way.
	ETag      string
	Parts     int    // 0: one PUT
	VersionID string // in a versioned bucket
	// Existed: the key already held this file (same size and ETag), from
	// an earlier upload or an earlier attempt of this one; nothing was
	// written.
	Existed bool
}

// String is the object's s3:// URL.
func (o Object) String() string { return "s3://" + o.Bucket + "/" + o.Key }

// Counters are an Uploader's counts so far.
type Counters struct {
	Objects  uint64 // uploads confirmed, Existed ones included
	Existing uint64 // of which the key already held the file
	Bytes    uint64 // bytes of the objects written (Existed ones not)
	Retries  uint64 // requests tried again after a transient failure
	Failures uint64 // Upload calls that returned an error
}

// New checks spec, reads the credentials (from the environment for
// Credentials.FromEnv), and checks that the bucket exists (Check, with
// the retries of any request). Its errors match ErrSpec, ErrNoBucket,
// ErrAuth, ErrTLS or ErrUnavailable.
func New(spec Spec) (*Uploader, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	spec = spec.withDefaults()
	creds, err := spec.Credentials.resolve()
	if err != nil {
		return nil, err
	}
	tr, err := minio.DefaultTransport(spec.TLS)
	if err != nil {
		return nil, fmt.Errorf("object store transport: %w", err)
	}
	tr.DialContext = (&net.Dialer{Timeout: spec.DialTimeout, KeepAlive: 30 * time.Second}).DialContext
	tr.TLSHandshakeTimeout = spec.DialTimeout
	// Each request's deadline (RequestTimeout) bounds the wait for an
	// answer, long for a part the server must write first.
	tr.ResponseHeaderTimeout = 0
	core, err := minio.NewCore(spec.Endpoint, &minio.Options{
		Creds:     credentials.NewStaticV4(creds.AccessKey, creds.SecretKey, creds.SessionToken),
		Secure:    spec.TLS,
		Transport: tr,
		Region:    spec.Region,
		// One try per call: retries are ours (try), so that
		// Attempts and the waits are what Spec says.
		MaxRetries: 1,
	})
	if err != nil {
		return nil, fmt.Errorf("Endpoint %q: %v: %w", spec.Endpoint, err, ErrSpec)
	}
	u := &Uploader{spec: spec, creds: creds, core: core, log: spec.Logger, closeIdle: tr.CloseIdleConnections}
	if err := u.Check(context.Background()); err != nil {
		u.Close()
		return nil, err
	}
	return u, nil
}

// Check asks the server whether the bucket exists (HEAD bucket), with
// the retries of any request. It returns nil, or an error matching
// ErrNoBucket, ErrAuth, ErrTLS or ErrUnavailable (or ctx's error).
func (u *Uploader) Check(ctx context.Context) error {
	err := u.try(ctx, "HEAD bucket", func(ctx context.Context) error {
		ok, err := u.core.BucketExists(ctx, u.spec.Bucket)
		if err == nil && !ok {
			return minio.ErrorResponse{Code: codeNoSuchBucket, StatusCode: 404, Message: "The specified bucket does not exist."}
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("bucket s3://%s on %s: %w", u.spec.Bucket, u.spec.Endpoint, err)
	}
	return nil
}

// Close closes the Uploader's idle connections; Upload then fails with
// ErrClosed. It waits for nothing: call it once the last Upload has
// returned.
func (u *Uploader) Close() error {
	if !u.closed.Swap(true) {
		u.closeIdle()
	}
	return nil
}

// Counters reads the counts; safe from any goroutine.
func (u *Uploader) Counters() Counters {
	return Counters{Objects: u.objects.Load(), Existing: u.existing.Load(), Bytes: u.bytes.Load(),
		Retries: u.retries.Load(), Failures: u.failures.Load()}
}

// maxSuffix bounds the numbered keys tried after a collision, as
// store does for file names.
const maxSuffix = 1000

// Upload puts the regular file at localPath into the bucket as
// Spec.Prefix joined to key, and returns once the server has confirmed
// the object (size and ETag are the file's); the local file is left as
// it is.
//
// key is a relative slash path of visible names ("20261122/a.pcap"): no
// leading, trailing or double '/', no element starting with '.', valid
// UTF-8 without control characters or '\', at most 1024 bytes with the
// prefix. The sink passes a finalized file's path relative to its spool
// directory.
//
// Upload never overwrites an object: a key that already holds this file
// is returned with Existed, one that holds another object is tried with
// ".1", ".2", … (see Object.Key). An Upload that fails has made no object
// visible, unless the server stored it and its answer was lost; calling
// Upload again then finds it (Existed), so the caller simply tries again
// later. How requests are sent, checked, retried and aborted is in the
// package documentation.
//
// Errors match ErrKey, ErrNoBucket, ErrAuth, ErrTLS, ErrUnavailable,
// ErrVerify, ErrExists, ErrClosed, ctx's error, or an fs error of the
// local file.
func (u *Uploader) Upload(ctx context.Context, localPath, key string) (obj Object, err error) {
	full := key
	if p := strings.TrimSuffix(u.spec.Prefix, "/"); p != "" {
		full = p + "/" + key
	}
	defer func() {
		if err != nil {
			u.failures.Add(1)
			err = fmt.Errorf("upload %s to s3://%s/%s: %w", localPath, u.spec.Bucket, full, err)
		}
	}()
	if u.closed.Load() {
		return Object{}, ErrClosed
	}
	if err := checkKey(key); err != nil {
		return Object{}, fmt.Errorf("key: %v: %w", err, ErrKey)
	}
	if len(full) > MaxKeyLen {
		return Object{}, fmt.Errorf("key with prefix: %d bytes: S3 keys are at most %d: %w", len(full), MaxKeyLen, ErrKey)
	}
	f, err := os.Open(localPath)
	if err != nil {
		return Object{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Object{}, err
	}
	if !fi.Mode().IsRegular() {
		return Object{}, fmt.Errorf("%s is not a regular file", localPath)
	}
	size := fi.Size()
	if size > MaxObjectSize {
		return Object{}, fmt.Errorf("%d bytes: over S3's largest object, %d", size, int64(MaxObjectSize))
	}
	parts, multipart := plan(size, u.spec.PartSize)
	if err := digest(f, parts); err != nil {
		return Object{}, err
	}
	want := wantETag(parts, multipart)

	taken := 0
	for n := 0; n <= maxSuffix; {
		k := suffixed(full, n)
		if len(k) > MaxKeyLen {
			return Object{}, fmt.Errorf("%s is taken, and numbered keys would be over %d bytes: %w", suffixed(full, n-1), MaxKeyLen, ErrKey)
		}
		info, found, err := u.head(ctx, k)
		if err != nil {
			return Object{}, err
		}
		obj := Object{Bucket: u.spec.Bucket, Key: k, Name: suffixed(key, n), Size: size, ETag: want}
		if multipart {
			obj.Parts = len(parts)
		}
		if found {
			if info.Size == size && etagIs(info.ETag, want) {
				obj.VersionID, obj.Existed = info.VersionID, true
				u.objects.Add(1)
				u.existing.Add(1)
				return obj, nil
			}
			u.log.Info("object key holds another object; trying the next numbered key",
				"key", k, "size", info.Size, "etag", info.ETag, "file_size", size, "file_etag", want)
			n++
			continue
		}
		var etag string
		if multipart {
			etag, obj.VersionID, err = u.putMultipart(ctx, f, k, parts)
		} else {
			etag, obj.VersionID, err = u.putSingle(ctx, f, k, parts[0])
		}
		if errors.Is(err, errTaken) {
			// Written meanwhile, by someone else or by an earlier
			// attempt whose answer was lost: look again.
			if taken++; taken == 3 {
				n, taken = n+1, 0
			}
			continue
		}
		if err != nil {
			return Object{}, err
		}
		if !etagIs(etag, want) {
			return Object{}, fmt.Errorf("the server answered ETag %q, the file's is %q: %w", etag, want, ErrVerify)
		}
		info, found, err = u.head(ctx, k)
		if err != nil {
			return Object{}, fmt.Errorf("confirm: %w", err)
		}
		if !found || info.Size != size || !etagIs(info.ETag, want) {
			return Object{}, fmt.Errorf("confirm: HEAD found %v, size %d, ETag %q; the file: size %d, ETag %q: %w",
				found, info.Size, info.ETag, size, want, ErrVerify)
		}
		u.objects.Add(1)
		u.bytes.Add(uint64(size))
		return obj, nil
	}
	return Object{}, fmt.Errorf("the key and its numbered variants hold other objects: %w", ErrExists)
}

// part is a byte range of the file and its MD5.
type part struct {
	off, n int64
	md5    [md5.Size]byte
}

func (p part) md5Base64() string { return base64.StdEncoding.EncodeToString(p.md5[:]) }
func (p part) md5Hex() string    { return hex.EncodeToString(p.md5[:]) }

// plan cuts a file of size bytes into one part (a single PUT) or the
// parts of a multipart upload: partSize bytes each, or more when that
// would make over MaxParts parts (whole MiB).
func plan(size, partSize int64) (parts []part, multipart bool) {
	if size <= partSize {
		return []part{{n: size}}, false
	}
	if (size+partSize-1)/partSize > MaxParts {
		partSize = ((size+MaxParts-1)/MaxParts + 1<<20 - 1) &^ (1<<20 - 1)
	}
	for off := int64(0); off < size; off += partSize {
		parts = append(parts, part{off: off, n: min(partSize, size-off)})
	}
	return parts, true
}

// digest computes each part's MD5.
func digest(f *os.File, parts []part) error {
	buf := make([]byte, 256<<10)
	h := md5.New()
	for i := range parts {
		h.Reset()
		if _, err := io.CopyBuffer(h, io.NewSectionReader(f, parts[i].off, parts[i].n), buf); err != nil {
			return fmt.Errorf("read %s: %w", f.Name(), err)
		}
		h.Sum(parts[i].md5[:0])
	}
	return nil
}

// wantETag is the ETag S3 gives the object: the MD5 of a single PUT's
// body, or the MD5 of the parts' MD5s, "-", the number of parts.
func wantETag(parts []part, multipart bool) string {
	if !multipart {
		return parts[0].md5Hex()
	}
	h := md5.New()
	for _, p := range parts {
		h.Write(p.md5[:])
	}
	return hex.EncodeToString(h.Sum(nil)) + "-" + strconv.Itoa(len(parts))
}

func etagIs(etag, want string) bool {
	return strings.EqualFold(strings.Trim(etag, `"`), want)
}

// suffixed is key with collision number n in its last element: before
// its first ".pcap", else at the end.
func suffixed(key string, n int) string {
	if n == 0 {
		return key
	}
	dir, base := path.Split(key)
	num := "." + strconv.Itoa(n)
	if i := strings.Index(base, ".pcap"); i > 0 {
		return dir + base[:i] + num + base[i:]
	}
	return key + num
}

// head returns the object at key, and whether there is one.
func (u *Uploader) head(ctx context.Context, key string) (info minio.ObjectInfo, found bool, err error) {
	err = u.try(ctx, "HEAD "+key, func(ctx context.Context) error {
		var err error
		info, err = u.core.StatObject(ctx, u.spec.Bucket, key, minio.StatObjectOptions{})
		return err
	})
	if s3Code(err) == codeNoSuchKey {
		return minio.ObjectInfo{}, false, nil
	}
	return info, err == nil, err
}

// ifAbsent is a write that fails with PreconditionFailed if the key
// holds an object.
func ifAbsent() minio.PutObjectOptions {
	var o minio.PutObjectOptions
	o.SetMatchETagExcept("*")
	return o
}

// putSingle sends the file in one PUT.
func (u *Uploader) putSingle(ctx context.Context, f *os.File, key string, p part) (etag, version string, err error) {
	opts := ifAbsent()
	err = u.try(ctx, "PUT "+key, func(ctx context.Context) error {
		info, err := u.core.PutObject(ctx, u.spec.Bucket, key, io.NewSectionReader(f, p.off, p.n), p.n, p.md5Base64(), "", opts)
		etag, version = info.ETag, info.VersionID
		return err
	})
	if s3Code(err) == codePreconditionFailed {
		return "", "", errTaken
	}
	return etag, version, err
}

// putMultipart sends the file as a multipart upload, aborted unless it
// completes.
func (u *Uploader) putMultipart(ctx context.Context, f *os.File, key string, parts []part) (etag, version string, err error) {
	var id string
	err = u.try(ctx, "start multipart upload "+key, func(ctx context.Context) error {
		var err error
		id, err = u.core.NewMultipartUpload(ctx, u.spec.Bucket, key, minio.PutObjectOptions{})
		return err
	})
	if err != nil {
		return "", "", err
	}
	completed := false
	defer func() {
		if !completed {
			u.abort(ctx, key, id)
		}
	}()
	done := make([]minio.CompletePart, len(parts))
	for i, p := range parts {
		what := fmt.Sprintf("PUT %s part %d/%d", key, i+1, len(parts))
		var got minio.ObjectPart
		err := u.try(ctx, what, func(ctx context.Context) error {
			var err error
			got, err = u.core.PutObjectPart(ctx, u.spec.Bucket, key, id, i+1,
				io.NewSectionReader(f, p.off, p.n), p.n, minio.PutObjectPartOptions{Md5Base64: p.md5Base64()})
			return err
		})
		if err != nil {
			return "", "", err
		}
		if !etagIs(got.ETag, p.md5Hex()) {
			return "", "", fmt.Errorf("%s: the server answered ETag %q, the part's MD5 is %s: %w", what, got.ETag, p.md5Hex(), ErrVerify)
		}
		done[i] = minio.CompletePart{PartNumber: i + 1, ETag: got.ETag}
	}
	var info minio.UploadInfo
	err = u.try(ctx, "complete multipart upload "+key, func(ctx context.Context) error {
		var err error
		info, err = u.core.CompleteMultipartUpload(ctx, u.spec.Bucket, key, id, done, ifAbsent())
		return err
	})
	switch s3Code(err) {
	case codePreconditionFailed:
		return "", "", errTaken
	case codeNoSuchUpload:
		// An earlier attempt completed it and its answer was lost (or
		// the upload was aborted): the caller looks again.
		completed = true
		return "", "", errTaken
	}
	if err != nil {
		return "", "", err
	}
	completed = true
	return info.ETag, info.VersionID, nil
}

// abort aborts a multipart upload, once, even after ctx's end.
func (u *Uploader) abort(ctx context.Context, key, id string) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), min(u.spec.RequestTimeout, 30*time.Second))
	defer cancel()
	err := u.core.AbortMultipartUpload(actx, u.spec.Bucket, key, id)
	if err != nil && s3Code(err) != codeNoSuchUpload {
		u.log.Warn("could not abort a multipart upload: its parts stay on the server, invisible, until a lifecycle rule (AbortIncompleteMultipartUpload) or an abort removes them",
			"bucket", u.spec.Bucket, "key", key, "upload_id", id, "error", u.explain(err))
	}
}

// try runs op, a request, with its own deadline (RequestTimeout), up to
// Attempts times while it fails transiently, waiting RetryWait, then
// twice as long each time up to MaxRetryWait, less a random part of up
// to half. The error says what was asked and why it failed.
func (u *Uploader) try(ctx context.Context, what string, op func(context.Context) error) error {
	start := time.Now()
	wait := u.spec.RetryWait
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, u.spec.RequestTimeout)
		err := op(actx)
		timedOut := errors.Is(actx.Err(), context.DeadlineExceeded)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", what, ctx.Err())
		}
		if timedOut {
			err = fmt.Errorf("no answer within RequestTimeout (%v): %w", u.spec.RequestTimeout, err)
		}
		if !transient(ctx, err) {
			return fmt.Errorf("%s: %w", what, u.explain(err))
		}
		if attempt >= u.spec.Attempts {
			return fmt.Errorf("%s: %w (%d attempts in %v): %w", what, u.explain(err), attempt,
				time.Since(start).Round(time.Millisecond), ErrUnavailable)
		}
		d := wait - rand.N(wait/2+1)
		u.retries.Add(1)
		u.log.Warn("object store request failed; trying again", "request", what, "bucket", u.spec.Bucket,
			"attempt", attempt, "attempts", u.spec.Attempts, "wait", d, "error", u.explain(err))
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s: %w", what, ctx.Err())
		case <-t.C:
		}
		wait = min(2*wait, u.spec.MaxRetryWait)
	}
}
