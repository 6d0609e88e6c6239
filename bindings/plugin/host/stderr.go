package host

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
)

// lineLogger logs a plugin's stderr through the host's logger, one
// record per line. A line that is a JSON object with "level" and "msg"
// (the SDK's slog JSON handler) keeps its level, message and attributes;
// any other line is logged at INFO, or ERROR from a Go panic on.
type lineLogger struct {
	log     *slog.Logger
	inPanic bool
}

// Write receives one line at a time from go-plugin, without its newline.
func (w *lineLogger) Write(p []byte) (int, error) {
	line := string(bytes.TrimRight(p, "\r\n"))
	if strings.TrimSpace(line) == "" {
		return len(p), nil
	}
	var rec map[string]any
	if !w.inPanic && strings.HasPrefix(line, "{") && json.Unmarshal(p, &rec) == nil {
		msg, _ := rec["msg"].(string)
		if msg == "" {
			msg, _ = rec["@message"].(string) // hclog's JSON
		}
		lvl, _ := rec["level"].(string)
		if lvl == "" {
			lvl, _ = rec["@level"].(string)
		}
		var level slog.Level
		if level.UnmarshalText([]byte(strings.ToUpper(lvl))) != nil {
			level = slog.LevelInfo
		}
		args := make([]any, 0, 2*len(rec))
		for k, v := range rec {
			switch k {
			case "time", "level", "msg", "@message", "@level", "@timestamp", "plugin", "instance":
				continue
			}
			args = append(args, k, v)
		}
		w.log.Log(context.Background(), level, msg, args...)
		return len(p), nil
	}
	if strings.HasPrefix(line, "panic: ") || strings.HasPrefix(line, "fatal error: ") {
		w.inPanic = true
	}
	level := slog.LevelInfo
	if w.inPanic {
		level = slog.LevelError
	}
	w.log.Log(context.Background(), level, line, "stream", "stderr")
	return len(p), nil
}
