// Package daemonsig is the one signal contract of the two daemons,
// fastcapa and pcapstore sink:
//
//   - SIGINT, SIGTERM and SIGQUIT end the process through its orderly
//     stop (drain, final report, exit status from the accounting). While
//     it stops, SIGINT and SIGTERM are logged and ignored, and SIGQUIT is
//     back to Go's default: a second one dumps every goroutine and exits
//     2, the way out of a stop that hangs.
//   - SIGHUP reopens the files the daemon appends to (so logrotate can
//     move them away), and it runs on.
//   - SIGPIPE is ignored process-wide: a write to a closed stdout, stderr
//     or socket fails with EPIPE, from Go and from C threads alike, and
//     never kills the process. Child processes inherit the ignored
//     SIGPIPE.
package daemonsig

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// IgnorePipe ignores SIGPIPE for the whole process. Call it first thing,
// before anything may write to stdout or stderr.
func IgnorePipe() { signal.Ignore(syscall.SIGPIPE) }

// Notify ignores SIGPIPE and catches the other signals of the contract.
// The context ends at the first ending signal. reopen, if not nil, runs
// on Notify's goroutine for each SIGHUP; without it SIGHUP is only
// logged. stop releases the signals.
func Notify(log *slog.Logger, reopen func()) (ctx context.Context, stop func()) {
	IgnorePipe()
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 4)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM, syscall.SIGQUIT, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			var s os.Signal
			select {
			case <-done:
				return
			case s = <-ch:
			}
			switch {
			case s == syscall.SIGHUP && reopen != nil:
				log.Info("signal: reopening output files, running on", "signal", s.String())
				reopen()
			case s == syscall.SIGHUP:
				log.Info("signal: no output file to reopen, running on", "signal", s.String())
			case ctx.Err() == nil:
				log.Info("signal: stopping", "signal", s.String())
				signal.Reset(syscall.SIGQUIT)
				cancel()
			default:
				log.Warn("signal: already stopping", "signal", s.String())
			}
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		close(done)
		cancel()
	}
}
