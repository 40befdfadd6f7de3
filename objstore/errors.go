package objstore

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strings"

	"github.com/minio/minio-go/v7"
)

// S3 error codes this package tells apart (minio-go reports a HEAD's,
// which has no body, from its status and MinIO's x-minio-error-code).
const (
	codeNoSuchBucket       = "NoSuchBucket"
	codeNoSuchKey          = "NoSuchKey"
	codeNoSuchUpload       = "NoSuchUpload"
	codePreconditionFailed = "PreconditionFailed"
)

// errTaken is a conditional write (If-None-Match: *) refused because the
// key holds an object.
var errTaken = errors.New("key taken")

// s3Code is the S3 error code of err, or "" when the server did not
// answer with an error.
func s3Code(err error) string {
	var r minio.ErrorResponse
	if errors.As(err, &r) {
		return r.Code
	}
	return ""
}

// serverError is an error the server answered, shown with its code and
// HTTP status.
type serverError struct{ r minio.ErrorResponse }

func (e serverError) Error() string {
	code := e.r.Code
	if code == "" {
		code = "error"
	}
	return fmt.Sprintf("%s (HTTP %d): %s", code, e.r.StatusCode, e.r.Error())
}

func (e serverError) Unwrap() error { return e.r }

// explain wraps err, an error from minio-go, with the sentinel it
// matches and the fix where one is known. An error the server answered
// is shown with its code, and still matches minio.ErrorResponse.
func (u *Uploader) explain(err error) error {
	s := u.spec
	if tlsRefused(err) {
		return fmt.Errorf("TLS with %s failed: if it serves plain HTTP, set TLS false; if its certificate is signed by a private CA, add the CA to the system's roots or $SSL_CERT_FILE: %w: %w", s.Endpoint, err, ErrTLS)
	}
	var r minio.ErrorResponse
	if !errors.As(err, &r) {
		return err
	}
	err = serverError{r}
	region := ""
	if r.Region != "" && r.Region != s.Region {
		region = fmt.Sprintf(" (the server says the bucket is in %s: set Region to it)", r.Region)
	}
	switch r.Code {
	case codeNoSuchBucket:
		return fmt.Errorf("bucket %q not found on %s: create it, or fix Bucket: %w: %w", s.Bucket, s.Endpoint, err, ErrNoBucket)
	case "InvalidAccessKeyId":
		return fmt.Errorf("the server does not know access key %q: fix the access key (%s): %w: %w", u.creds.AccessKey, keySource(s, EnvAccessKey), err, ErrAuth)
	case "SignatureDoesNotMatch":
		return fmt.Errorf("the secret key is not access key %q's: fix the secret key (%s): %w: %w", u.creds.AccessKey, keySource(s, EnvSecretKey), err, ErrAuth)
	case "AuthorizationHeaderMalformed", "InvalidRegion", "IllegalLocationConstraintException":
		return fmt.Errorf("request signed for region %s refused%s: fix Region: %w: %w", s.Region, region, err, ErrAuth)
	case "ExpiredToken", "InvalidToken", "TokenRefreshRequired":
		return fmt.Errorf("session token refused: renew the temporary credentials (%s): %w: %w", keySource(s, EnvSessionToken), err, ErrAuth)
	case "RequestTimeTooSkewed":
		return fmt.Errorf("this host's clock is too far from the server's: synchronize it (NTP): %w: %w", err, ErrAuth)
	case "AccessDenied", "AllAccessDisabled", "AccountProblem", "InvalidObjectState":
		return fmt.Errorf("access denied to bucket %q%s: the keys need s3:ListBucket on it and s3:GetObject, s3:PutObject, s3:AbortMultipartUpload on its objects: %w: %w", s.Bucket, region, err, ErrAuth)
	case "BadDigest", "XAmzContentSHA256Mismatch", "XAmzContentChecksumMismatch":
		return fmt.Errorf("the server received other bytes than the file's (did the file change during the upload?): %w: %w", err, ErrVerify)
	}
	// Go's TLS servers (MinIO among them) answer plain HTTP with a bare
	// 400: no S3 code, no Server header.
	if !s.TLS && r.StatusCode == http.StatusBadRequest && r.Server == "" && strings.HasPrefix(r.Code, "400") {
		return fmt.Errorf("%s answered 400 without an S3 error, as an HTTPS server does to plain HTTP: set TLS: %w: %w", s.Endpoint, err, ErrTLS)
	}
	if r.Code == "" && r.StatusCode == http.StatusMovedPermanently {
		return fmt.Errorf("bucket %q is not in region %s%s: fix Region: %w: %w", s.Bucket, s.Region, region, err, ErrAuth)
	}
	return err
}

func keySource(s Spec, env string) string {
	if s.Credentials.FromEnv {
		return "$" + env
	}
	return "Spec.Credentials"
}

// transient tells whether a request that failed with err may succeed if
// tried again: the server did not answer (no connection, a reset, the
// attempt's timeout) or answered that it is busy or broken for now.
// parent is the caller's context: once it is done nothing is transient.
func transient(parent context.Context, err error) bool {
	if parent.Err() != nil {
		return false
	}
	var r minio.ErrorResponse
	if errors.As(err, &r) {
		switch r.Code {
		case "InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout", "RequestTimeoutException",
			"IncompleteBody", "OperationAborted", "XMinioServerNotInitialized", "XMinioReadQuorum", "XMinioWriteQuorum":
			return true
		}
		return r.StatusCode >= 500 || r.StatusCode == http.StatusTooManyRequests || r.StatusCode == http.StatusRequestTimeout
	}
	// The local file failed: trying again reads the same disk.
	var pe *fs.PathError
	if errors.As(err, &pe) || tlsRefused(err) {
		return false
	}
	// Anything else is the connection: refused, reset, closed, timed
	// out (the attempt's own deadline included).
	return true
}

// tlsRefused tells whether err is a TLS handshake that failed for good:
// a certificate not trusted or not for this host, or a server that does
// not speak TLS.
func tlsRefused(err error) bool {
	var (
		verify   *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		record   tls.RecordHeaderError
	)
	return errors.As(err, &verify) || errors.As(err, &unknown) || errors.As(err, &hostname) ||
		errors.As(err, &invalid) || errors.As(err, &record) ||
		// net/http turns a RecordHeaderError that looks like HTTP into
		// this, without a type.
		strings.Contains(err.Error(), "server gave HTTP response to HTTPS client")
}
