package serve

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fastcapa-go/fastcapa/internal/atomicfile"
	"github.com/fastcapa-go/fastcapa/query"
)

// Metron's job states (org.apache.metron.job.JobStatus.State).
const (
	NotRunning = "NOT_RUNNING"
	Running    = "RUNNING"
	Finalizing = "FINALIZING"
	Succeeded  = "SUCCEEDED"
	JobFailed  = "FAILED"
	Killed     = "KILLED"
)

// JobsConfig configures Metron's REST jobs.
type JobsConfig struct {
	// Dir holds each job's pages and status, in a directory per job.
	// It must not be a store, nor in one unless hidden: results would
	// be searched as captures.
	Dir string
	// PageSize is the packets per page (Metron's pcap.page.size);
	// default 10 000.
	PageSize int
	// Limit is the jobs a user may have running at once (Metron's
	// user.job.limit); default 1.
	Limit int
	// Retention is how long a finished job and its pages are kept;
	// default 24 h.
	Retention time.Duration
}

// Status is Metron's PcapStatus, the answer about a job, with how its
// query ended once it has (Summary).
type Status struct {
	JobID           string   `json:"jobId"`
	JobStatus       string   `json:"jobStatus"`
	Description     string   `json:"description"`
	PercentComplete float64  `json:"percentComplete"`
	PageTotal       int      `json:"pageTotal"`
	Summary         *Summary `json:"summary,omitempty"`
}

// RestError is Metron's error body.
type RestError struct {
	ResponseCode int    `json:"responseCode"`
	Message      string `json:"message"`
	FullMessage  string `json:"fullMessage"`
}

// job is one Metron job, as its status.json keeps it.
type job struct {
	Status
	User      string    `json:"user"`
	Kind      string    `json:"kind"` // fixed or query
	Params    Params    `json:"params"`
	Submitted time.Time `json:"submitted"`
	Finished  time.Time `json:"finished,omitzero"`

	cancel context.CancelFunc
}

func (j *job) done() bool {
	return j.JobStatus == Succeeded || j.JobStatus == JobFailed || j.JobStatus == Killed
}

// jobs runs and keeps the jobs.
type jobs struct {
	cfg JobsConfig
	s   *Server

	mu   sync.Mutex
	byID map[string]*job
	seq  int

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

const statusFile = "status.json"

func newJobs(cfg JobsConfig, s *Server) (*jobs, error) {
	if cfg.PageSize <= 0 {
		cfg.PageSize = 10000
	}
	if cfg.Limit <= 0 {
		cfg.Limit = 1
	}
	if cfg.Retention <= 0 {
		cfg.Retention = 24 * time.Hour
	}
	if cfg.Dir == "" {
		return nil, errors.New("name a directory for the jobs' results")
	}
	abs, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, err
	}
	cfg.Dir = abs
	for _, st := range s.stores {
		rel, err := filepath.Rel(st, abs)
		if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
			continue
		}
		hidden := false
		for _, part := range strings.Split(rel, "/") {
			hidden = hidden || strings.HasPrefix(part, ".")
		}
		if !hidden {
			return nil, fmt.Errorf("jobs directory %s is in store %s: its pages would be searched as captures (use a hidden directory, or one outside the stores)", abs, st)
		}
	}
	if err := os.MkdirAll(abs, 0o750); err != nil {
		return nil, fmt.Errorf("jobs directory: %w", err)
	}
	j := &jobs{cfg: cfg, s: s, byID: map[string]*job{}}
	j.ctx, j.cancel = context.WithCancel(context.Background())
	if err := j.load(); err != nil {
		return nil, err
	}
	j.expire()
	j.wg.Add(1)
	go j.janitor()
	return j, nil
}

// load reads the jobs an earlier run left. One that was running was
// stopped with that run: it failed.
func (j *jobs) load() error {
	ents, err := os.ReadDir(j.cfg.Dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(j.cfg.Dir, e.Name(), statusFile))
		if err != nil {
			continue // not a job's directory, or one whose status never got written
		}
		var jb job
		if err := json.Unmarshal(b, &jb); err != nil || jb.JobID != e.Name() {
			j.s.log.Warn("jobs: unreadable status, left alone", "dir", e.Name(), "err", err)
			continue
		}
		if !jb.done() {
			jb.JobStatus, jb.Description, jb.Finished = JobFailed, "the server stopped while the job ran", time.Now()
			j.save(&jb)
		}
		j.byID[jb.JobID] = &jb
	}
	return nil
}

// dir is a job's directory.
func (j *jobs) dir(id string) string { return filepath.Join(j.cfg.Dir, id) }

// save writes a job's status.json; the lock (or sole ownership) is held.
func (j *jobs) save(jb *job) {
	b, err := json.MarshalIndent(jb, "", "  ")
	if err == nil {
		err = atomicfile.WriteFile(filepath.Join(j.dir(jb.JobID), statusFile), b)
	}
	if err != nil {
		j.s.log.Error("jobs: cannot save status", "job", jb.JobID, "err", err)
	}
}

func (j *jobs) routes(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/v1/pcap/fixed", func(w http.ResponseWriter, r *http.Request) { j.submit(w, r, "fixed") })
	mux.HandleFunc("POST /api/v1/pcap/query", func(w http.ResponseWriter, r *http.Request) { j.submit(w, r, "query") })
	mux.HandleFunc("GET /api/v1/pcap", j.list)
	mux.HandleFunc("GET /api/v1/pcap/{jobId}", j.status)
	mux.HandleFunc("GET /api/v1/pcap/{jobId}/raw", j.raw)
	mux.HandleFunc("GET /api/v1/pcap/{jobId}/config", j.config)
	mux.HandleFunc("DELETE /api/v1/pcap/kill/{jobId}", j.kill)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func restError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, RestError{ResponseCode: code, Message: msg, FullMessage: msg})
}

// submit starts a job: Metron's refusal past the user's limit, a 400
// for a query that is wrong, else the new job's status.
func (j *jobs) submit(w http.ResponseWriter, r *http.Request, kind string) {
	e := entryOf(r)
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxQueryBody))
	if err != nil {
		restError(w, http.StatusBadRequest, err.Error())
		return
	}
	p, err := DecodeParams(b)
	if err != nil {
		restError(w, http.StatusBadRequest, err.Error())
		return
	}
	switch {
	case kind == "query" && p.Query == nil:
		empty := "" // Metron's query job without a query: every packet
		p.Query = &empty
	case kind == "fixed" && p.Query != nil:
		restError(w, http.StatusBadRequest, "a fixed query has no query field: POST it to /api/v1/pcap/query")
		return
	}
	req, err := p.Request()
	var spec query.Spec
	if err == nil {
		e.query = describe(req)
		var paths []string
		if paths, err = j.s.paths(p.BasePath); err == nil {
			// The buckets' indexes are read as the job runs: within
			// the server's life, not the request's.
			spec, err = j.s.spec(j.ctx, req, paths, p.BasePath != "", j.s.fanout(r, p.BasePath))
		}
	}
	if err != nil {
		restError(w, http.StatusBadRequest, err.Error())
		return
	}

	j.mu.Lock()
	var running []string
	for _, jb := range j.byID {
		if jb.User == e.user && !jb.done() {
			running = append(running, jb.JobID)
		}
	}
	if len(running) >= j.cfg.Limit {
		j.mu.Unlock()
		slices.Sort(running)
		restError(w, http.StatusTooManyRequests, fmt.Sprintf("Cannot submit job because a job is already running.  "+
			"Please contact the administrator to cancel job(s) with id(s) %s", strings.Join(running, ", ")))
		return
	}
	j.seq++
	id := fmt.Sprintf("job_%d_%04d", time.Now().UnixMilli(), j.seq)
	ctx, cancel := context.WithCancel(j.ctx)
	jb := &job{
		Status: Status{JobID: id, JobStatus: Running, Description: "searching"},
		User:   e.user, Kind: kind, Params: p, Submitted: time.Now(), cancel: cancel,
	}
	if err := os.Mkdir(j.dir(id), 0o750); err != nil {
		j.mu.Unlock()
		cancel()
		restError(w, http.StatusInternalServerError, err.Error())
		return
	}
	j.save(jb)
	j.byID[id] = jb
	st := jb.Status
	j.mu.Unlock()
	e.job = id

	j.wg.Add(1)
	go j.run(ctx, jb, spec)
	writeJSON(w, http.StatusOK, st)
}

// run runs a job's query into its pages.
func (j *jobs) run(ctx context.Context, jb *job, spec query.Spec) {
	defer j.wg.Done()
	defer jb.cancel()
	began := time.Now()
	out := query.NewPages(j.dir(jb.JobID), j.cfg.PageSize, "")
	spec.Progress = func(p query.Progress) {
		if p.Bytes == 0 {
			return
		}
		j.mu.Lock()
		jb.PercentComplete = float64(int(1000*float64(p.BytesDone)/float64(p.Bytes))) / 10
		j.mu.Unlock()
	}
	st, err := query.Run(ctx, spec, out.Write)
	j.mu.Lock()
	if !jb.done() {
		jb.JobStatus, jb.Description = Finalizing, "writing the last page"
	}
	j.mu.Unlock()
	cerr := out.Close()

	j.mu.Lock()
	defer j.mu.Unlock()
	sum := summaryOf(st, err)
	jb.Summary, jb.Finished, jb.PageTotal = &sum, time.Now(), len(out.Pages())
	switch {
	case jb.JobStatus != Killed && j.ctx.Err() != nil:
		jb.JobStatus, jb.Description = JobFailed, "the server stopped while the job ran"
	case jb.JobStatus == Killed || errors.Is(err, context.Canceled):
		jb.JobStatus, jb.Description, jb.PageTotal = Killed, "killed", 0
		jb.Summary = nil
		for _, p := range out.Pages() {
			os.Remove(p)
		}
	case cerr != nil || sum.Status == Failed:
		jb.JobStatus, jb.Description = JobFailed, cmp.Or(sum.Error, fmt.Sprint(cerr))
	default:
		jb.JobStatus, jb.PercentComplete = Succeeded, 100
		jb.Description = fmt.Sprintf("%d packets in %d pages", sum.Matched, jb.PageTotal)
		if sum.Status == Incomplete {
			jb.Description += fmt.Sprintf("; incomplete: %d captures could not be read whole (summary.failed)", len(sum.Failed))
		} else if sum.Status == Limited {
			jb.Description += "; stopped at the limit: more packets may match"
		}
	}
	j.save(jb)
	j.s.log.Info("job", "job", jb.JobID, "user", jb.User, "state", jb.JobStatus, "packets", st.Matched,
		"pages", jb.PageTotal, "took", time.Since(began).Round(time.Millisecond))
}

// get is the user's job named in the request, or nil (Metron's 404: a
// job of another user is not found either).
func (j *jobs) get(r *http.Request) *job {
	jb := j.byID[r.PathValue("jobId")]
	if jb == nil || jb.User != entryOf(r).user {
		return nil
	}
	return jb
}

func (j *jobs) status(w http.ResponseWriter, r *http.Request) {
	j.answer(w, r, func(jb *job) any { return jb.Status })
}

func (j *jobs) config(w http.ResponseWriter, r *http.Request) {
	j.answer(w, r, func(jb *job) any { return jb.Params })
}

// answer writes what of the user's job of the request read takes (under
// the lock), or Metron's 404.
func (j *jobs) answer(w http.ResponseWriter, r *http.Request, read func(*job) any) {
	entryOf(r).job = r.PathValue("jobId")
	j.mu.Lock()
	jb := j.get(r)
	var v any
	if jb != nil {
		v = read(jb)
	}
	j.mu.Unlock()
	if jb == nil {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// list is the user's jobs, in the state ?state= names if given.
func (j *jobs) list(w http.ResponseWriter, r *http.Request) {
	state := r.URL.Query().Get("state")
	user := entryOf(r).user
	out := []Status{}
	j.mu.Lock()
	for _, jb := range j.byID {
		if jb.User == user && (state == "" || strings.EqualFold(state, jb.JobStatus)) {
			out = append(out, jb.Status)
		}
	}
	j.mu.Unlock()
	slices.SortFunc(out, func(a, b Status) int { return cmp.Compare(a.JobID, b.JobID) })
	writeJSON(w, http.StatusOK, out)
}

// raw sends page ?page=N (from 1) of a job that succeeded; 404 for a
// page past the end, a job not done, or no job.
func (j *jobs) raw(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("jobId")
	entryOf(r).job = id
	page, err := strconv.Atoi(r.URL.Query().Get("page"))
	if err != nil {
		restError(w, http.StatusBadRequest, "page: give a page number from 1")
		return
	}
	j.mu.Lock()
	jb := j.get(r)
	ok := jb != nil && jb.JobStatus == Succeeded && page >= 1 && page <= jb.PageTotal
	j.mu.Unlock()
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	f, err := os.Open(filepath.Join(j.dir(id), query.PageName("", page)))
	if err != nil {
		w.WriteHeader(http.StatusNotFound) // expired as we looked
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		restError(w, http.StatusInternalServerError, err.Error())
		return
	}
	name := r.URL.Query().Get("fileName")
	if name == "" || strings.ContainsAny(name, "\"\\/\r\n") {
		name = fmt.Sprintf("pcap_%s_%d.pcap", id, page)
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	http.ServeContent(w, r, "", fi.ModTime(), f)
}

// kill stops a running job (Metron's DELETE /kill/{jobId}): its pages
// are removed. A job that ended stays as it ended.
func (j *jobs) kill(w http.ResponseWriter, r *http.Request) {
	entryOf(r).job = r.PathValue("jobId")
	j.mu.Lock()
	jb := j.get(r)
	if jb == nil {
		j.mu.Unlock()
		w.WriteHeader(http.StatusNotFound)
		return
	}
	if !jb.done() {
		jb.JobStatus, jb.Description = Killed, "killed"
		jb.cancel()
	}
	st := jb.Status
	j.mu.Unlock()
	writeJSON(w, http.StatusOK, st)
}

// janitor expires finished jobs past the retention.
func (j *jobs) janitor() {
	defer j.wg.Done()
	t := time.NewTicker(min(j.cfg.Retention/10, time.Minute))
	defer t.Stop()
	for {
		select {
		case <-j.ctx.Done():
			return
		case <-t.C:
			j.expire()
		}
	}
}

// expire removes the finished jobs older than the retention.
func (j *jobs) expire() {
	j.mu.Lock()
	var old []string
	for id, jb := range j.byID {
		if jb.done() && time.Since(jb.Finished) > j.cfg.Retention {
			old = append(old, id)
			delete(j.byID, id)
		}
	}
	j.mu.Unlock()
	for _, id := range old {
		if err := os.RemoveAll(j.dir(id)); err != nil {
			j.s.log.Warn("jobs: cannot remove an expired job", "job", id, "err", err)
		} else {
			j.s.log.Info("jobs: expired", "job", id)
		}
	}
}

// close kills the running jobs and waits for them and the janitor.
func (j *jobs) close() {
	j.cancel()
	j.wg.Wait()
}
