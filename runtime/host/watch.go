package host

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// watcher watches the folders of the scripts, not the files: editors save
// by writing a temporary file and renaming it over the script, which
// would end a watch on the file (PITFALLS.md, fsnotify). Events are
// filtered by name, Chmod alone is ignored, and each file's events are
// debounced before it is reloaded.
type watcher struct {
	fw  *fsnotify.Watcher // nil if inotify could not be set up
	log *slog.Logger
	deb debouncer
}

// newWatcher watches dirs. A folder that cannot be watched is logged, and
// its scripts run without reloads; so do all if inotify is unavailable.
func newWatcher(log *slog.Logger, dirs []string) *watcher {
	w := &watcher{log: log, deb: debouncer{delay: DebounceDelay}}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		log.Error("cannot watch script files; scripts will not reload", "err", err)
		return w
	}
	w.fw = fw
	for _, d := range dirs {
		if err := fw.Add(d); err != nil {
			log.Error("cannot watch a folder of scripts; its scripts will not reload", "folder", d, "err", err)
		}
	}
	return w
}

// run handles events until ctx ends. Each due file is handled on a
// goroutine of h's tracker; loads of one script wait for each other.
func (w *watcher) run(ctx context.Context, h *Host) {
	if w.fw == nil {
		<-ctx.Done()
		return
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.fw.Events:
			if !ok {
				return
			}
			if w.relevant(h, ev) {
				w.deb.add(filepath.Clean(ev.Name), time.Now())
			}
		case err, ok := <-w.fw.Errors:
			if !ok {
				return
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				// Events were lost: look at everything again.
				w.log.Warn("file events were lost; checking every script", "err", err)
				for _, p := range h.knownFiles() {
					w.deb.add(p, time.Now())
				}
				continue
			}
			w.log.Error("watching script files", "err", err)
		case <-timer.C:
			for _, p := range w.deb.take(time.Now()) {
				h.tracker.Go(func() { h.fileChanged(p) })
			}
		}
		if next, ok := w.deb.next(); ok {
			timer.Reset(time.Until(next))
		}
	}
}

// relevant reports whether ev may change a script: a change to a script
// file, or to a file in a folder of scripts that would be one. Chmod
// alone never is (indexers and virus scanners touch files).
func (w *watcher) relevant(h *Host, ev fsnotify.Event) bool {
	if !ev.Has(fsnotify.Create | fsnotify.Write | fsnotify.Remove | fsnotify.Rename) {
		return false
	}
	name := filepath.Clean(ev.Name)
	h.mu.Lock()
	_, known := h.scripts[name]
	h.mu.Unlock()
	if known {
		return true
	}
	_, inFolder := h.folders[filepath.Dir(name)]
	return inFolder && isScriptFile(name)
}

// close ends the watches.
func (w *watcher) close() {
	if w.fw != nil {
		w.fw.Close()
	}
}

// knownFiles returns every script file and every script file now in a
// folder of scripts.
func (h *Host) knownFiles() []string {
	h.mu.Lock()
	var out []string
	for p := range h.scripts {
		out = append(out, p)
	}
	h.mu.Unlock()
	for dir := range h.folders {
		out = append(out, scriptFiles(h.log, dir)...)
	}
	return out
}
