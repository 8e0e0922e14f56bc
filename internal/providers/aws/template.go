package aws

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/carohealth/platform/internal/failover"
	"github.com/carohealth/platform/internal/objstore"
	"github.com/carohealth/platform/internal/release"
)

// OutputRelease is the platform stack's output naming the release it was synthesized as.
const OutputRelease = "Release"

// SettingRelease is the plan setting of the release the deploy step deploys ("" when the plan
// deploys a local cloud assembly).
const SettingRelease = "release"

// releaseStore is the target region's release bucket.
func (p *Provider) releaseStore(c *Clients) objstore.Store {
	return objstore.NewS3(c.S3, p.ReleaseBucket, "")
}

// surveyTemplate pins the template the deploy step deploys: the published release (default) or,
// when a platform engineer names one, a local cloud assembly.
func (p *Provider) surveyTemplate(ctx context.Context, req failover.Request, outs map[string]string, s *failover.Survey) {
	if p.AssemblyDir != "" {
		path := filepath.Join(p.AssemblyDir, StackName(req.To)+".template.json")
		tmpl, err := os.ReadFile(path)
		if err != nil {
			s.Block(CheckRelease, fmt.Sprintf("no synthesized template for %s in the cloud assembly %s (%v): run `make synth`, or leave cdk-out unset to deploy the published release", StackName(req.To), p.AssemblyDir, err))
			return
		}
		sum := sha256.Sum256(tmpl)
		s.Settings[SettingTemplate], s.Settings[SettingTemplateSHA] = path, hex.EncodeToString(sum[:])
		s.OK(CheckRelease, fmt.Sprintf("cloud assembly template %s (%d bytes), given instead of a release", path, len(tmpl)))
		return
	}
	version, ok := p.chooseRelease(ctx, req, outs, s)
	if !ok {
		return
	}
	c, err := p.ClientsFor(ctx, req.To)
	if err != nil {
		s.Block(CheckRelease, err.Error())
		return
	}
	store := p.releaseStore(c)
	m, err := release.ReadManifest(ctx, store, version)
	if err != nil {
		s.Block(CheckRelease, fmt.Sprintf("release %s is not usable in s3://%s (%v): the pipeline's release job publishes it after deploying; `caro release list --region %s` lists what is there",
			version, p.ReleaseBucket, err, req.To))
		return
	}
	body, err := release.Template(ctx, store, m, StackName(req.To), "")
	if err != nil {
		s.Block(CheckRelease, err.Error())
		return
	}
	st := m.Stacks[StackName(req.To)]
	s.Settings[SettingRelease] = version
	s.Settings[SettingTemplate] = "s3://" + p.ReleaseBucket + "/" + st.Template
	s.Settings[SettingTemplateSHA] = st.SHA256
	s.OK(CheckRelease, fmt.Sprintf("release %s published in s3://%s (template %d bytes, SHA-256 %s, %d assets)", version, p.ReleaseBucket, len(body), st.SHA256[:12], len(st.Assets)))
}

// chooseRelease decides which release the failover deploys: the one named (--release), else the
// one the primary runs, which the standby must run too.
func (p *Provider) chooseRelease(ctx context.Context, req failover.Request, outs map[string]string, s *failover.Survey) (string, bool) {
	standby := outs[OutputRelease]
	primary := ""
	if sc, err := p.ClientsFor(ctx, req.From); err == nil {
		if so, _, err := outputs(ctx, sc.CloudFormation, req.From); err == nil {
			primary = so[OutputRelease]
		}
	}
	switch {
	case p.Release != "":
		if standby != "" && standby != p.Release {
			s.OK(CheckRelease, fmt.Sprintf("%s runs release %s; the deploy step moves it to release %s, as asked", req.To, standby, p.Release))
		}
		return p.Release, true
	case primary != "" && standby != "" && primary != standby:
		s.Block(CheckRelease, fmt.Sprintf("%s runs release %s but %s runs %s: say which the failover deploys with --release %s (or %s)", req.To, standby, req.From, primary, primary, standby))
		return "", false
	case primary != "":
		return primary, true
	case standby != "":
		s.OK(CheckRelease, fmt.Sprintf("%s does not say its release (down?): deploying the release %s runs, %s", req.From, req.To, standby))
		return standby, true
	}
	s.Block(CheckRelease, fmt.Sprintf("neither stack says which release it runs (output %s): pass --release <version> (`caro release list --region %s`), or cdk-out for a local assembly", OutputRelease, req.To))
	return "", false
}

// template returns the planned template, checked against the plan's SHA-256, and, for a release,
// the S3 URL CloudFormation reads it from.
func (r *awsRun) template(ctx context.Context) (body, url string, err error) {
	want := r.plan.Settings[SettingTemplateSHA]
	if version := r.plan.Settings[SettingRelease]; version != "" {
		store := r.p.releaseStore(r.c)
		m, err := release.ReadManifest(ctx, store, version)
		if err != nil {
			return "", "", fmt.Errorf("the planned release %s: %w", version, err)
		}
		b, err := release.Template(ctx, store, m, StackName(r.plan.To), want)
		if err != nil {
			return "", "", err
		}
		key := strings.TrimPrefix(r.plan.Settings[SettingTemplate], "s3://"+r.p.ReleaseBucket+"/")
		return string(b), fmt.Sprintf("https://%s.s3.%s.amazonaws.com/%s", r.p.ReleaseBucket, r.plan.To, key), nil
	}
	b, err := os.ReadFile(r.plan.Settings[SettingTemplate])
	if err != nil {
		return "", "", fmt.Errorf("read the planned template: %w", err)
	}
	sum := sha256.Sum256(b)
	if hex.EncodeToString(sum[:]) != want {
		return "", "", fmt.Errorf("%s changed since the plan was made (re-synthesized?): run `caro failover plan` again", r.plan.Settings[SettingTemplate])
	}
	return string(b), "", nil
}
