package serve

import (
	"context"
	"io"

	"github.com/fastcapa-go/fastcapa/index"
	"github.com/fastcapa-go/fastcapa/objstore"
	"github.com/fastcapa-go/fastcapa/query"
)

// Bucket is a store the sink uploaded to an object store (a target's
// s3:), searched without a local copy: its captures are listed at each
// query, read with ranged GETs, and pruned by the sidecar indexes the
// sink uploaded beside them.
type Bucket struct {
	Name   string // s3://bucket/prefix, for the log and a listing's failure
	Reader *objstore.Reader
}

// objects are the captures of the buckets at one query: sources, and
// the index loader that finds their sidecars.
type objects struct {
	sources []query.Found
	stored  map[string]bucketObject // by URL (Found.Path)
}

type bucketObject struct {
	r *objstore.Reader
	objstore.Stored
}

// listBuckets lists every bucket's captures. A bucket that cannot be
// listed is a source that failed: the answer is incomplete, naming it.
func (s *Server) listBuckets(ctx context.Context) objects {
	o := objects{sources: []query.Found{}, stored: map[string]bucketObject{}}
	for _, b := range s.cfg.Buckets {
		list, err := b.Reader.List(ctx)
		if err != nil {
			o.sources = append(o.sources, query.Found{Path: b.Name, Named: true, Err: err})
			continue
		}
		for _, st := range list {
			r, key := b.Reader, st.Key
			url := r.URL(key)
			o.stored[url] = bucketObject{r, st}
			o.sources = append(o.sources, query.Found{
				Path: url, Size: st.Size, Named: true,
				Open: func(ctx context.Context) (io.ReadCloser, error) { return r.Open(ctx, key) },
			})
		}
	}
	return o
}

// indexOf loads an object's index from its sidecar object, and a local
// capture's from its sidecar file.
func (o objects) indexOf(ctx context.Context) query.IndexOf {
	if len(o.stored) == 0 {
		return nil
	}
	return func(path string) (*index.Index, error) {
		obj, ok := o.stored[path]
		if !ok {
			return index.Load(path)
		}
		if obj.Sidecar == "" {
			return nil, index.ErrStale // none: scan it
		}
		b, err := obj.r.ReadSidecar(ctx, obj.Sidecar)
		if err != nil {
			return nil, err
		}
		return index.ForObject(b, obj.Size)
	}
}

// spec is the Spec of req for a request: the local paths, and unless the
// request is narrowed to a basePath, the buckets' captures and (fanout)
// the peers' answers. ctx bounds the listing and the indexes' reads.
func (s *Server) spec(ctx context.Context, req query.Request, paths []string, local, fanout bool) (query.Spec, error) {
	if req.Workers == 0 {
		req.Workers = s.cfg.Workers
	}
	req.Sources = nil
	if !local {
		objs := s.listBuckets(ctx)
		req.IndexOf = objs.indexOf(ctx)
		req.Sources = objs.sources
	}
	if fanout {
		req.Sources = append(req.Sources, s.peerSources(req)...)
	}
	return req.Spec(paths)
}
