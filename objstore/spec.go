package objstore

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fastcapa-go/fastcapa/store"
)

// Spec describes an object-store target. Validate checks it; New makes an
// Uploader from it.
type Spec struct {
	// Endpoint is the server's host or host:port, without a scheme or a
	// path: "s3.eu-west-1.amazonaws.com", "minio.lan:9000",
	// "127.0.0.1:9000". Without a port, TLS decides it (443 or 80).
	Endpoint string

	// TLS makes requests HTTPS, the server's certificate checked against
	// the system's roots (and $SSL_CERT_FILE); false is plain HTTP, where
	// every request body is signed chunk by chunk (SigV4 streaming).
	// HTTP(S)_PROXY and NO_PROXY apply.
	TLS bool

	// Region is the bucket's region, which every request is signed for:
	// "eu-west-1" on AWS; "us-east-1" on MinIO unless its site region is
	// set otherwise.
	Region string

	// Bucket is an existing bucket; New checks that it is there.
	Bucket string

	// Prefix is a directory under which every object goes: with
	// "sensor1" (or "sensor1/"), Upload of key "20261122/a.pcap" makes
	// the object "sensor1/20261122/a.pcap". Its elements follow the key
	// rules (see Upload). Empty: the bucket's root.
	Prefix string

	// Credentials are the keys requests are signed with.
	Credentials Credentials

	// PartSize: a file of up to PartSize bytes is sent in one PUT; a
	// larger one in a multipart upload of parts of PartSize bytes (the
	// last one shorter), or larger parts when it would need more than
	// 10000, S3's limit. 5 MiB (S3's smallest part) to 5 GiB (its
	// largest PUT). 0: 64 MiB.
	PartSize int64

	// DialTimeout bounds opening a connection, TCP and TLS. 0: 10s.
	DialTimeout time.Duration

	// RequestTimeout bounds each request, a part's body included: it
	// must cover sending PartSize bytes at the slowest rate to accept. A
	// request that times out is tried again. 0: 10 minutes.
	RequestTimeout time.Duration

	// Attempts is how many times a request (a PUT, a part, a HEAD) is
	// tried before Upload gives up on a transient failure: no
	// connection, a reset, a timeout, HTTP 5xx, 429 or 408. 1: no retry.
	// 0: 8.
	Attempts int

	// RetryWait is the wait before the first retry; each retry doubles
	// it, up to MaxRetryWait, and a random part of up to half of it is
	// taken off so that uploaders do not retry in step. 0: 500ms, and
	// MaxRetryWait 0: 30s. With the defaults, a request is given up
	// some 30 to 60 seconds after its first failure.
	RetryWait    time.Duration
	MaxRetryWait time.Duration

	// Logger gets one line for each retry, taken key and leftover
	// multipart upload. nil: slog.Default().
	Logger *slog.Logger
}

// Credentials are an access key and its secret, static or from the
// environment.
type Credentials struct {
	// FromEnv takes the keys from the environment when New runs, as the
	// AWS tools do: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and, for
	// temporary credentials, AWS_SESSION_TOKEN. The static fields must
	// then be empty.
	FromEnv bool

	AccessKey    string
	SecretKey    string
	SessionToken string // temporary credentials only
}

// String shows the access key and hides the secrets, so that printing a
// Spec leaks nothing.
func (c Credentials) String() string {
	if c.FromEnv {
		return "{from environment}"
	}
	s := "{access key " + strconv.Quote(c.AccessKey) + ", secret key " + redacted(c.SecretKey)
	if c.SessionToken != "" {
		s += ", session token " + redacted(c.SessionToken)
	}
	return s + "}"
}

// GoString is String, for %#v.
func (c Credentials) GoString() string { return c.String() }

// LogValue is String, for slog.
func (c Credentials) LogValue() slog.Value { return slog.StringValue(c.String()) }

func redacted(s string) string {
	if s == "" {
		return "empty"
	}
	return "set"
}

// The environment variables of Credentials.FromEnv.
const (
	EnvAccessKey    = "AWS_ACCESS_KEY_ID"
	EnvSecretKey    = "AWS_SECRET_ACCESS_KEY"
	EnvSessionToken = "AWS_SESSION_TOKEN"
)

// Defaults for a Spec's zero fields.
const (
	DefaultPartSize       = 64 << 20
	DefaultDialTimeout    = 10 * time.Second
	DefaultRequestTimeout = 10 * time.Minute
	DefaultAttempts       = 8
	DefaultRetryWait      = 500 * time.Millisecond
	DefaultMaxRetryWait   = 30 * time.Second
)

// S3's limits.
const (
	MinPartSize   = 5 << 20
	MaxPartSize   = 5 << 30
	MaxParts      = 10000
	MaxObjectSize = 5 << 40
	MaxKeyLen     = 1024
)

var (
	// ErrSpec means a Spec field is invalid, or the environment lacks
	// the credentials Credentials.FromEnv asks for.
	ErrSpec = errors.New("invalid object store spec")
	// ErrKey means a key given to Upload is not a relative slash path
	// of visible names.
	ErrKey = errors.New("invalid object key")
	// ErrNoBucket means the bucket does not exist.
	ErrNoBucket = errors.New("no such bucket")
	// ErrAuth means the server refused the request's credentials (an
	// unknown access key, a wrong secret, an expired token, a wrong
	// region, a clock too far off) or denied the access.
	ErrAuth = errors.New("credentials refused or access denied")
	// ErrUnavailable means a request still failed transiently (no
	// connection, a timeout, HTTP 5xx) after Spec.Attempts tries: try
	// again later.
	ErrUnavailable = errors.New("object store unavailable")
	// ErrTLS means the TLS setting does not fit the server: its
	// certificate is not trusted or not for Endpoint's host, or one side
	// speaks plain HTTP.
	ErrTLS = errors.New("TLS mismatch with the server")
	// ErrVerify means the server stored, or reported, something other
	// than the file: a size or an ETag that is not the file's, or a body
	// whose MD5 is not the one sent (BadDigest: the file changed during
	// the upload).
	ErrVerify = errors.New("object does not match the file")
	// ErrExists means the key and all its numbered variants hold other
	// objects.
	ErrExists = errors.New("object key taken")
	// ErrClosed means Upload was called after Close.
	ErrClosed = errors.New("uploader closed")
)

// Validate checks every field; the error names the field and the fix.
func (s Spec) Validate() error {
	bad := func(field, format string, a ...any) error {
		return fmt.Errorf("%s: %s: %w", field, fmt.Sprintf(format, a...), ErrSpec)
	}
	if err := checkEndpoint(s.Endpoint); err != nil {
		return bad("Endpoint", "%v", err)
	}
	if s.Region == "" {
		return bad("Region", "empty: give the bucket's region (us-east-1 for MinIO unless its site region is set)")
	}
	if strings.ContainsFunc(s.Region, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}) {
		return bad("Region", "%q: a region is letters, digits and '-' (eu-west-1)", s.Region)
	}
	if err := checkBucket(s.Bucket); err != nil {
		return bad("Bucket", "%v", err)
	}
	if p := strings.TrimSuffix(s.Prefix, "/"); p != "" {
		if err := checkKey(p); err != nil {
			return bad("Prefix", "%v (\"sensor1\" or \"captures/sensor1/\"; empty for the bucket's root)", err)
		}
	}
	if err := s.Credentials.check(); err != nil {
		return err
	}
	if s.PartSize != 0 && (s.PartSize < MinPartSize || s.PartSize > MaxPartSize) {
		return bad("PartSize", "%d: give 5 MiB (%d) to 5 GiB (%d), or 0 for %d", s.PartSize, MinPartSize, MaxPartSize, DefaultPartSize)
	}
	if s.DialTimeout < 0 {
		return bad("DialTimeout", "%v is negative: give a duration, or 0 for %v", s.DialTimeout, DefaultDialTimeout)
	}
	if s.RequestTimeout < 0 {
		return bad("RequestTimeout", "%v is negative: give a duration, or 0 for %v", s.RequestTimeout, DefaultRequestTimeout)
	}
	if s.Attempts < 0 || s.Attempts > 100 {
		return bad("Attempts", "%d: give 1 (no retry) to 100, or 0 for %d", s.Attempts, DefaultAttempts)
	}
	if s.RetryWait < 0 {
		return bad("RetryWait", "%v is negative: give a duration, or 0 for %v", s.RetryWait, DefaultRetryWait)
	}
	if s.MaxRetryWait < 0 {
		return bad("MaxRetryWait", "%v is negative: give a duration, or 0 for %v", s.MaxRetryWait, DefaultMaxRetryWait)
	}
	if s.MaxRetryWait != 0 && s.MaxRetryWait < s.withDefaults().RetryWait {
		return bad("MaxRetryWait", "%v is less than RetryWait %v: raise it, or lower RetryWait", s.MaxRetryWait, s.withDefaults().RetryWait)
	}
	return nil
}

// withDefaults fills the zero fields that have defaults.
func (s Spec) withDefaults() Spec {
	if s.PartSize == 0 {
		s.PartSize = DefaultPartSize
	}
	if s.DialTimeout == 0 {
		s.DialTimeout = DefaultDialTimeout
	}
	if s.RequestTimeout == 0 {
		s.RequestTimeout = DefaultRequestTimeout
	}
	if s.Attempts == 0 {
		s.Attempts = DefaultAttempts
	}
	if s.RetryWait == 0 {
		s.RetryWait = DefaultRetryWait
	}
	if s.MaxRetryWait == 0 {
		s.MaxRetryWait = max(DefaultMaxRetryWait, s.RetryWait)
	}
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	return s
}

func checkEndpoint(ep string) error {
	if ep == "" {
		return errors.New("empty: give the server's host:port (s3.eu-west-1.amazonaws.com, 127.0.0.1:9000)")
	}
	if strings.Contains(ep, "://") {
		return fmt.Errorf("%q: give host:port without a scheme, and set TLS for https", ep)
	}
	if strings.ContainsAny(ep, "/?#@ ") {
		return fmt.Errorf("%q: give host:port only, without a path, user or spaces (the bucket goes in Bucket, a path in Prefix)", ep)
	}
	host, port, err := net.SplitHostPort(ep)
	if err != nil {
		if strings.Contains(ep, ":") {
			return fmt.Errorf("%q: %v (an IPv6 address goes in brackets: [::1]:9000)", ep, err)
		}
		host = ep
	} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q: port %q is not 1 to 65535", ep, port)
	}
	if host == "" {
		return fmt.Errorf("%q: no host", ep)
	}
	return nil
}

// checkBucket applies S3's bucket naming rules.
func checkBucket(b string) error {
	if b == "" {
		return errors.New("empty: give the name of an existing bucket")
	}
	if len(b) < 3 || len(b) > 63 {
		return fmt.Errorf("%q: a bucket name is 3 to 63 characters", b)
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			return fmt.Errorf("%q: a bucket name is lowercase letters, digits, '.' and '-'", b)
		}
	}
	if !isAlnum(b[0]) || !isAlnum(b[len(b)-1]) {
		return fmt.Errorf("%q: a bucket name starts and ends with a letter or a digit", b)
	}
	if strings.Contains(b, "..") || net.ParseIP(b) != nil {
		return fmt.Errorf("%q: a bucket name has no \"..\" and is not an IP address", b)
	}
	return nil
}

// isSidecar reports whether name is a capture's sidecar index.
func isSidecar(name string) bool {
	e := store.Classify(name, 0)
	return e.Kind == store.Sidecar && e.Of != ""
}

func isAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// checkKey accepts a relative slash path of visible names: no leading,
// trailing or double '/', no element starting with '.' (so no "." or
// ".."), but for a last element that is a capture's sidecar index
// (.<capture>.idx, store.SidecarPath), valid UTF-8 without control
// characters or '\', at most MaxKeyLen bytes.
func checkKey(k string) error {
	switch {
	case k == "":
		return errors.New("empty")
	case len(k) > MaxKeyLen:
		return fmt.Errorf("%d bytes: S3 keys are at most %d", len(k), MaxKeyLen)
	case !utf8.ValidString(k):
		return fmt.Errorf("%q is not valid UTF-8", k)
	case strings.ContainsFunc(k, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\\' }):
		return fmt.Errorf("%q has a control character or '\\'", k)
	}
	els := strings.Split(k, "/")
	for i, e := range els {
		if e == "" {
			return fmt.Errorf("%q: an empty element (leading, trailing or double '/')", k)
		}
		if i == len(els)-1 && isSidecar(e) {
			break
		}
		if strings.HasPrefix(e, ".") {
			return fmt.Errorf("%q: element %q starts with '.' (hidden, \".\" or \"..\")", k, e)
		}
	}
	return nil
}

func (c Credentials) check() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("Credentials: %s: %w", fmt.Sprintf(format, a...), ErrSpec)
	}
	static := c.AccessKey != "" || c.SecretKey != "" || c.SessionToken != ""
	switch {
	case c.FromEnv && static:
		return bad("FromEnv and static keys both set: choose one")
	case c.FromEnv:
		return nil
	case !static:
		return bad("none: set AccessKey and SecretKey, or FromEnv to read %s and %s", EnvAccessKey, EnvSecretKey)
	case c.AccessKey == "":
		return bad("SecretKey without AccessKey: set both")
	case c.SecretKey == "":
		return bad("AccessKey %q without SecretKey: set both", c.AccessKey)
	}
	return nil
}

// resolve returns the keys to sign with, reading the environment for
// FromEnv.
func (c Credentials) resolve() (Credentials, error) {
	if !c.FromEnv {
		return c, nil
	}
	r := Credentials{
		AccessKey:    os.Getenv(EnvAccessKey),
		SecretKey:    os.Getenv(EnvSecretKey),
		SessionToken: os.Getenv(EnvSessionToken),
	}
	for _, v := range []struct{ name, val string }{{EnvAccessKey, r.AccessKey}, {EnvSecretKey, r.SecretKey}} {
		if v.val == "" {
			return Credentials{}, fmt.Errorf("Credentials.FromEnv: %s is not set: export it, or give static keys: %w", v.name, ErrSpec)
		}
	}
	return r, nil
}
