package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/netrun/netrun/bindings/plugin/sdk"
	"github.com/netrun/netrun/runtime/sockets"
	"github.com/netrun/netrun/runtime/websocket"
)

// wsChannel makes the 0.005-minute (300 ms) control channel "cct-ws" for
// t, with a KeepAliveTrigger handler that logs "ka" (with n, the count,
// and minutes) and calls onKA, a PushNotificationTrigger handler that
// logs "push" and calls onPush, and a ResetTrigger handler that logs
// "reset" and closes the returned channel. It arms the channel and logs
// "armed" with the status.
func wsChannel(ctx context.Context, h *sdk.Host, t sdk.Transport, onKA func(n int), onPush func()) (*sdk.ControlChannelTrigger, <-chan struct{}, error) {
	log := h.Logger()
	cc, err := h.NewControlChannelTrigger(ctx, "cct-ws", 0.005, sdk.RequestSoftwareSlot)
	if err != nil {
		return nil, nil, err
	}
	reset := make(chan struct{})
	kas := 0 // handlers run one at a time on the channel's goroutine
	cc.KeepAliveTrigger().Add(func(d *sdk.ControlChannelTriggerEventDetails) {
		kas++
		log.Info("ka", "n", fmt.Sprint(kas), "minutes", fmt.Sprint(d.CurrentKeepAliveIntervalInMinutes))
		onKA(kas)
	})
	cc.PushNotificationTrigger().Add(func(*sdk.ControlChannelTriggerEventDetails) {
		log.Info("push")
		onPush()
	})
	cc.ResetTrigger().Add(func(d *sdk.ControlChannelTriggerResetEventDetails) {
		log.Info("reset", "err", fmt.Sprint(d.Err))
		close(reset)
	})
	if err := cc.UsingTransport(ctx, t); err != nil {
		cc.Close()
		return nil, nil, err
	}
	st, err := cc.WaitForPushEnabled(ctx)
	if err != nil {
		cc.Close()
		return nil, nil, err
	}
	log.Info("armed", "status", fmt.Sprint(st))
	return cc, reset, nil
}

// runMessage keeps a MessageWebSocket to url (Node's ws peer of
// internal/testpeer) alive: from the third keep-alive on it asks the peer
// "cmd:pongs" at each keep-alive and logs each answer as "message" with
// its data, until one says three or more (the pong of a keep-alive goes
// out from a goroutine of the host's own, so it may still be on its way
// when the trigger is raised); then it sends "cmd:close 1000 bye". The
// peer's close raises the reset, after which it closes the channel and
// logs "closed".
func runMessage(ctx context.Context, h *sdk.Host, url string) error {
	log := h.Logger()
	m := h.NewMessageWebSocket()
	if err := m.Control().SetMessageType(websocket.Utf8); err != nil {
		return err
	}
	send := func(text string) {
		if err := m.Send(ctx, []byte(text)); err != nil {
			log.Error("send failed", "text", text, "err", err)
		}
	}
	var enough atomic.Bool // the peer has counted three pongs
	m.MessageReceived().Add(func(a *sdk.MessageReceivedEventArgs) {
		data := string(a.Data())
		log.Info("message", "data", data)
		if n, ok := strings.CutPrefix(data, "pongs:"); ok {
			if k, err := strconv.Atoi(n); err == nil && k >= 3 && !enough.Swap(true) {
				send("cmd:close 1000 bye")
			}
		}
	})
	m.Closed().Add(func(a *sdk.ClosedEventArgs) {
		log.Info("ws closed", "code", fmt.Sprint(a.Code()), "reason", a.Reason())
	})
	if err := m.Connect(ctx, url); err != nil {
		return err
	}
	defer m.Close()
	cc, reset, err := wsChannel(ctx, h, m, func(n int) {
		if n >= 3 && !enough.Load() {
			send("cmd:pongs")
		}
	}, func() {})
	if err != nil {
		return err
	}
	defer cc.Close()
	select {
	case <-reset:
	case <-ctx.Done():
		return nil
	}
	cc.Close()
	log.Info("closed")
	<-ctx.Done()
	return nil
}

// runStream keeps a StreamWebSocket to url (the peer echoes) alive: at
// the second keep-alive it writes "hello"; each push reads what arrived
// and logs it as "echo" with its data; after the echo it closes the
// WebSocket, which raises the reset, then closes the channel and logs
// "closed".
func runStream(ctx context.Context, h *sdk.Host, url string) error {
	log := h.Logger()
	s := h.NewStreamWebSocket()
	if err := s.Connect(ctx, url); err != nil {
		return err
	}
	var once sync.Once
	got := make(chan struct{})
	cc, reset, err := wsChannel(ctx, h, s, func(n int) {
		if n == 2 {
			if _, err := s.OutputStream().Write(ctx, []byte("hello")); err != nil {
				log.Error("write failed", "err", err)
			}
		}
	}, func() {
		buf := make([]byte, 64)
		n, err := s.InputStream().Read(ctx, buf, sockets.Partial)
		if err != nil {
			return
		}
		log.Info("echo", "data", string(buf[:n]))
		once.Do(func() { close(got) })
	})
	if err != nil {
		s.Close()
		return err
	}
	defer cc.Close()
	select {
	case <-got:
	case <-ctx.Done():
		s.Close()
		return nil
	}
	s.Close()
	select {
	case <-reset:
	case <-ctx.Done():
		return nil
	}
	cc.Close()
	log.Info("closed")
	<-ctx.Done()
	return nil
}
