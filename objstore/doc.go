// Package objstore puts finalized capture files into an S3-compatible
// object store (AWS S3, MinIO, and others that speak S3's SigV4 API):
// the object-store target of `pcapstore sink`.
//
// A Spec says where (Endpoint, TLS, Region, Bucket, Prefix), as whom
// (Credentials: static, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY
// as the AWS tools read them) and how (PartSize, timeouts, Attempts and
// waits). New validates it, checks that the bucket exists and that the
// credentials are accepted, and makes an Uploader. Upload puts one local
// file under a key and returns only once the server has confirmed the
// object: the server checked every request body against the MD5 sent
// with it, and the object's size and ETag are the file's. Only then may
// the caller count the file's records as stored: the sink commits their
// Kafka offsets and deletes its local copy after Upload returns.
//
// An object becomes visible only when complete: S3 publishes a PUT, or a
// multipart upload's CompleteMultipartUpload, atomically, so a reader
// never sees part of a file. That is the object-store form of store's
// hidden temporary file linked to its final name. And like store,
// Upload never replaces anything: a key that holds the same file is
// taken as done (Object.Existed), one that holds another object gets a
// numbered key, and the write is conditional (If-None-Match: *).
//
// Upload reads the file twice: once for the MD5 of each part, then to
// send it, each request streamed from the file with its length, never
// buffered whole. A file of up to PartSize bytes is sent in one PUT, a
// larger one as a multipart upload, one part after the other. Every
// request carries its body's MD5 (Content-MD5), so the server refuses
// bytes that are not the file's. Upload then checks the ETag the server
// answered and, with a HEAD, the object's size and ETag, against the
// file's MD5 (one PUT) or the MD5 of its parts' MD5s (multipart).
//
// Each request is tried up to Spec.Attempts times on a transient
// failure, with growing waits; a multipart upload resumes at the part
// that failed. An Upload that fails (after its attempts, on a refusal,
// or on ctx's end) aborts its multipart upload, if any. If the abort
// fails too (the server gone), the parts stay on the server, invisible,
// until a lifecycle rule (AbortIncompleteMultipartUpload) removes them,
// and a Logger line says so.
//
// The credentials need s3:ListBucket on the bucket (New's check, and so
// that a missing key answers 404 rather than 403), and s3:GetObject,
// s3:PutObject and s3:AbortMultipartUpload on its objects.
//
// It owns the requests it makes and the multipart uploads it begins,
// which it completes or aborts. It never deletes, overwrites, lists or
// reads back an object's contents, never creates a bucket, never reads
// Kafka or commits offsets, and never modifies or removes the local
// file. Errors wrap sentinels (ErrSpec, ErrKey, ErrNoBucket, ErrAuth,
// ErrTLS, ErrUnavailable, ErrVerify, ErrExists, ErrClosed) that say
// what to fix, or, for ErrUnavailable, to try again later.
//
// Limits: the checks rely on ETags being MD5s, as S3 makes them for
// objects it stores unencrypted or with SSE-S3; a bucket that encrypts
// with SSE-KMS or SSE-C, or compresses objects (MinIO's compression),
// gives other ETags, and Upload fails with ErrVerify. Parts go one after
// the other, on one connection per Upload.
package objstore
