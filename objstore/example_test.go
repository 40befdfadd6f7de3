package objstore_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/fastcapa-go/fastcapa/objstore"
)

// A sink's hand-over of one finalized file from its spool directory:
// upload, and only once the object is confirmed, count the file's
// records as stored and delete the local copy. (It needs a server, so it
// has no output to check.)
func Example() {
	u, err := objstore.New(objstore.Spec{
		Endpoint:    "minio.lan:9000",
		Region:      "us-east-1",
		Bucket:      "pcap",
		Prefix:      "sensor1",
		Credentials: objstore.Credentials{FromEnv: true}, // AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY
	})
	if err != nil {
		// ErrSpec, ErrNoBucket, ErrAuth: the message says what to fix.
		fmt.Println(err)
		return
	}
	defer u.Close()

	spool := "/var/spool/pcapstore"
	path := filepath.Join(spool, "20261122", "all-101500.pcap.zst")
	rel, err := filepath.Rel(spool, path)
	if err != nil {
		fmt.Println(err)
		return
	}
	obj, err := u.Upload(context.Background(), path, filepath.ToSlash(rel))
	switch {
	case errors.Is(err, objstore.ErrUnavailable), errors.Is(err, context.Canceled):
		// Keep the file and its records uncommitted; try again later.
		slog.Warn("upload deferred", "path", path, "error", err)
		return
	case err != nil:
		// ErrAuth, ErrNoBucket, ErrVerify, …: an operator must act.
		slog.Error("upload", "path", path, "error", err)
		return
	}
	// s3://pcap/sensor1/20261122/all-101500.pcap.zst (or a numbered key
	// if another object had that one) is complete and confirmed: commit
	// the offsets of the file's records, then delete the local copy.
	slog.Info("uploaded", "object", obj.String(), "bytes", obj.Size, "existed", obj.Existed)
	os.Remove(path)
}

// Validate names the field and the fix.
func ExampleSpec_Validate() {
	err := objstore.Spec{
		Endpoint:    "http://minio.lan:9000",
		Region:      "us-east-1",
		Bucket:      "pcap",
		Credentials: objstore.Credentials{FromEnv: true},
	}.Validate()
	fmt.Println(err)
	fmt.Println(errors.Is(err, objstore.ErrSpec))
	// Output:
	// Endpoint: "http://minio.lan:9000": give host:port without a scheme, and set TLS for https: invalid object store spec
	// true
}
