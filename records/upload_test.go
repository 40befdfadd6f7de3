package records_test

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fastcapa-go/fastcapa/internal/testenv"
	"github.com/fastcapa-go/fastcapa/objstore"
	"github.com/fastcapa-go/fastcapa/records"
)

// TestUploadToMinIO: with an object store, each published Parquet file
// is in the bucket under the prefix and its path in the output, byte
// for byte (read back with curl's own SigV4). With the store down, the
// files are published locally and the state keeps them to upload; the
// next run, the store back, uploads them and reads nothing again.
func TestUploadToMinIO(t *testing.T) {
	m := testenv.StartMinIO(t)
	up, err := objstore.New(objstore.Spec{Endpoint: m.Endpoint, Region: m.Region, Bucket: m.Bucket, Prefix: "records",
		Credentials: objstore.Credentials{AccessKey: m.AccessKey, SecretKey: m.SecretKey},
		Attempts:    2, RetryWait: 50 * time.Millisecond, MaxRetryWait: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	upload := func(ctx context.Context, local, key string) error {
		_, err := up.Upload(ctx, local, key)
		return err
	}
	out := t.TempDir()
	in := filepath.Join(testenv.Pcaps(t), "metron-example.pcap")

	m.Stop(t)
	res, err := records.RunFiles(context.Background(), records.FilesSpec{Paths: []string{in}, Upload: upload,
		Writer: records.WriterSpec{Dir: out, Packets: true, Flows: true, Stem: "s"}})
	if err != nil || res.Uploaded != 0 || res.Unuploaded != res.Written || res.Written == 0 {
		t.Fatalf("store down: %+v, %v", res, err)
	}
	m.Start(t)
	res2, err := records.RunFiles(context.Background(), records.FilesSpec{Paths: []string{in}, Upload: upload,
		Writer: records.WriterSpec{Dir: out, Packets: true, Flows: true, Stem: "s2"}})
	if err != nil || res2.Packets != 0 || res2.Uploaded != res.Written || res2.Unuploaded != 0 {
		t.Fatalf("store back: %+v, %v", res2, err)
	}
	n := 0
	err = filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(p) != ".parquet" {
			return err
		}
		rel, _ := filepath.Rel(out, p)
		local, _ := os.ReadFile(p)
		status, body := m.Object(t, m.Bucket, "records/"+filepath.ToSlash(rel))
		if status != 200 || !bytes.Equal(body, local) {
			t.Errorf("%s: HTTP %d, %d bytes, local %d", rel, status, len(body), len(local))
		}
		n++
		return nil
	})
	if err != nil || n != res.Written {
		t.Fatalf("%d files checked of %d (%v)", n, res.Written, err)
	}
	t.Logf("%d files uploaded after the store came back", n)
}
