package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"syscall"
	"time"
)

// Retention bounds what a directory keeps. Each bound is off at zero.
// Only finished captures (Walk's Capture) are ever deleted, oldest (by
// modification time) first; a file still being written (hidden
// temporary name) never is, nor a dead-letter file (*.jsonl), a sidecar,
// a link or anything in a hidden directory.
type Retention struct {
	MaxBytes    int64         // keep the finalized files' total size at or under this
	MinFreePct  float64       // keep at least this percentage of the filesystem free
	MaxAge      time.Duration // delete files last modified longer ago than this
	Now         func() time.Time
	FreePercent func(dir string) (float64, error) // default: statfs
	// Keep, if set, keeps the files it says yes to whatever the bounds
	// (the sink's files whose on_finalize command has not run yet).
	Keep func(path string) bool
}

// Retain applies r to the finalized files under dir and returns the
// paths it deleted.
func Retain(dir string, r Retention) ([]string, error) {
	if r.MaxBytes == 0 && r.MinFreePct == 0 && r.MaxAge == 0 {
		return nil, nil
	}
	now, free := time.Now, r.FreePercent
	if r.Now != nil {
		now = r.Now
	}
	if free == nil {
		free = statfsFree
	}
	type file struct {
		path string
		size int64
		mod  time.Time
	}
	var files []file
	var total int64
	err := Walk(dir, func(e Entry) error {
		if e.Err != nil {
			if errors.Is(e.Err, fs.ErrNotExist) {
				return nil
			}
			return e.Err
		}
		if e.Kind != Capture {
			return nil
		}
		info, err := os.Lstat(e.Path)
		if err != nil {
			return nil // gone meanwhile
		}
		files = append(files, file{e.Path, info.Size(), info.ModTime()})
		total += info.Size()
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		err = nil // no directory: nothing to retain
	}
	if err != nil {
		return nil, fmt.Errorf("retention: %w", err)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].mod.Before(files[j].mod) })
	var deleted []string
	for _, f := range files {
		over := r.MaxBytes > 0 && total > r.MaxBytes
		old := r.MaxAge > 0 && now().Sub(f.mod) > r.MaxAge
		low := false
		if r.MinFreePct > 0 {
			pct, err := free(dir)
			if err != nil {
				return deleted, fmt.Errorf("retention: free space: %w", err)
			}
			low = pct < r.MinFreePct
		}
		if !over && !old && !low {
			break // oldest first: nothing younger is due either
		}
		if r.Keep != nil && r.Keep(f.path) {
			continue
		}
		if err := os.Remove(f.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return deleted, fmt.Errorf("retention: %w", err)
		}
		total -= f.size
		deleted = append(deleted, f.path)
	}
	return deleted, nil
}

func statfsFree(dir string) (float64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	if st.Blocks == 0 {
		return 100, nil
	}
	return 100 * float64(st.Bavail) / float64(st.Blocks), nil
}
