package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/fastcapa-go/fastcapa/index"
	"github.com/fastcapa-go/fastcapa/query"
)

// runIndex builds the sidecar index of every capture under the given
// directories that lacks one (or whose index is stale or corrupt), so
// that pcapstore query can prune files written before indexing, or by
// other tools; then it removes sidecars whose capture is gone. Which
// files are captures, and which of them failing is an error, is the
// query's rule (query.Walk, over store.Walk's classification, and
// query.Sniff): a capture the query would name as unreadable fails here
// too (exit 1).
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
	var built, current, failed, notCapture, cleaned int
	for _, dir := range flags.Args() {
		fi, err := os.Stat(dir)
		if err != nil || !fi.IsDir() {
			fmt.Fprintf(os.Stderr, "pcapstore index: %s: not a directory\n", dir)
			return 2
		}
		// The files a query reads, by the query's own rule.
		found, _, err := query.Walk([]string{dir}, nil)
		if err != nil {
			fmt.Fprintf(os.Stderr, "pcapstore index: %v\n", err)
			failed++
		}
		for _, f := range found {
			if err := query.Sniff(f); errors.Is(err, query.ErrNotCapture) {
				fmt.Fprintf(os.Stderr, "pcapstore index: skipped %s: %v\n", f.Path, err)
				notCapture++
				continue
			} else if err != nil {
				fmt.Fprintf(os.Stderr, "pcapstore index: %s: %v\n", f.Path, err)
				failed++
				continue
			}
			if !*force {
				if _, err := index.Load(f.Path); err == nil {
					current++
					continue
				}
			}
			ix, err := index.BuildFile(f.Path)
			if err == nil {
				err = ix.Save(f.Path)
			}
			if err != nil {
				fmt.Fprintf(os.Stderr, "pcapstore index: %v\n", err)
				failed++
				continue
			}
			built++
		}
		removed, err := index.Clean(dir)
		if err != nil {
			fmt.Fprintf(os.Stderr, "pcapstore index: %v\n", err)
			failed++
		}
		cleaned += len(removed)
	}
	fmt.Fprintf(os.Stderr, "pcapstore index: %d built, %d up to date, %d failed, %d not a capture, %d stale sidecars removed\n",
		built, current, failed, notCapture, cleaned)
	if failed > 0 {
		return 1
	}
	return 0
}
