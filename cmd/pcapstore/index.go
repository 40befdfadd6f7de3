package main

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/fastcapa-go/fastcapa/index"
)

// runIndex builds the sidecar index of every capture under the given
// directories that lacks one (or whose index is stale or corrupt), so
// that pcapstore query can prune files written before indexing, or by
// other tools; then it removes sidecars whose capture is gone.
func runIndex(args []string) int {
	flags := flag.NewFlagSet("pcapstore index", flag.ContinueOnError)
	force := flags.Bool("force", false, "rebuild every index, even those up to date")
	flags.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: pcapstore index [-force] DIR...\n  builds the sidecar index (.NAME.idx) of each capture under DIR that lacks one")
		flags.PrintDefaults()
	}
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if flags.NArg() == 0 {
		flags.Usage()
		return 2
	}
	var built, current, failed, cleaned int
	for _, dir := range flags.Args() {
		fi, err := os.Stat(dir)
		if err != nil || !fi.IsDir() {
			fmt.Fprintf(os.Stderr, "pcapstore index: %s: not a directory\n", dir)
			return 2
		}
		walkErr := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				fmt.Fprintf(os.Stderr, "pcapstore index: %v\n", err)
				failed++
				return nil
			}
			name := d.Name()
			if d.IsDir() || !d.Type().IsRegular() || strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".jsonl") {
				return nil
			}
			if !*force {
				if _, err := index.Load(p); err == nil {
					current++
					return nil
				}
			}
			ix, err := index.BuildFile(p)
			if err == nil {
				err = ix.Save(p)
			}
			if err != nil {
				fmt.Fprintf(os.Stderr, "pcapstore index: %v\n", err)
				failed++
				return nil
			}
			built++
			return nil
		})
		if walkErr != nil {
			fmt.Fprintf(os.Stderr, "pcapstore index: %v\n", walkErr)
			failed++
		}
		removed, err := index.Clean(dir)
		if err != nil {
			fmt.Fprintf(os.Stderr, "pcapstore index: %v\n", err)
			failed++
		}
		cleaned += len(removed)
	}
	fmt.Fprintf(os.Stderr, "pcapstore index: %d built, %d up to date, %d failed, %d stale sidecars removed\n",
		built, current, failed, cleaned)
	if failed > 0 {
		return 1
	}
	return 0
}
