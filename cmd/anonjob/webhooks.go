package main

import (
	"fmt"
	"time"

	anonjobv1 "github.com/anonjob/anonjob/gen/anonjob/v1"
)

type webhookSecretCmd struct {
	Rotate         rotateSecretCmd         `cmd:"" help:"Make a new signing secret for your completion webhooks; it is printed once, on the last line."`
	RevokePrevious revokePreviousSecretCmd `cmd:"" name:"revoke-previous" help:"End the previous signing secret now, instead of a day after the rotation."`
}

type revokePreviousSecretCmd struct{}

func (c *revokePreviousSecretCmd) Run(e *env) error {
	resp, err := e.deliveries.RevokePreviousWebhookSecret(e.ctx, &anonjobv1.RevokePreviousWebhookSecretRequest{})
	if err != nil {
		return err
	}
	if resp.GetRevoked() == 0 {
		_, err = fmt.Fprintln(e.out.w, "no previous secret was valid; only the current one signs")
		return err
	}
	_, err = fmt.Fprintln(e.out.w, "revoked the previous secret; only the current one signs now")
	return err
}

type rotateSecretCmd struct{}

func (c *rotateSecretCmd) Run(e *env) error {
	resp, err := e.deliveries.RotateWebhookSecret(e.ctx, &anonjobv1.RotateWebhookSecretRequest{})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(e.out.w, "the previous secret keeps signing too until %s\n%s\n",
		resp.GetPreviousExpireTime().AsTime().Format(time.RFC3339), resp.GetSecret())
	return err
}

type deliveriesCmd struct{ jobArg }

func (c *deliveriesCmd) Run(e *env) error {
	resp, err := e.deliveries.ListDeliveries(e.ctx, &anonjobv1.ListDeliveriesRequest{JobId: c.ID})
	if err != nil {
		return err
	}
	for _, d := range resp.GetDeliveries() {
		if e.out.json {
			if err := e.out.message(d); err != nil {
				return err
			}
			continue
		}
		_, _ = fmt.Fprintf(e.out.w, "%s  %s  %s  %s  %d attempts  %s\n", d.GetMessageId(), d.GetState(),
			d.GetFileStatus(), d.GetUrl(), d.GetAttempts(), d.GetCreateTime().AsTime().Format(time.RFC3339))
		for _, a := range d.GetAttemptLog() {
			_, _ = fmt.Fprintf(e.out.w, "    %s  status %d  %dms  %s\n", a.GetTime().AsTime().Format(time.RFC3339Nano),
				a.GetStatusCode(), a.GetLatencyMs(), a.GetError())
		}
	}
	return nil
}

type redeliverCmd struct {
	ID string `arg:"" help:"Job id of an ended job with a callback_url."`
}

func (c *redeliverCmd) Run(e *env) error {
	resp, err := e.deliveries.RedeliverJob(e.ctx, &anonjobv1.RedeliverJobRequest{JobId: c.ID})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(e.out.w, "queued %s\n", resp.GetDelivery().GetMessageId())
	return err
}
