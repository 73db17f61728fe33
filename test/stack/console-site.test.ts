/**
 * The deployed web console in the template (lib/constructs/console-site.ts): a private site bucket
 * read by CloudFront only (origin access control), HTTPS only, strict security headers, the data
 * bucket's CORS for the console's origin only, the console told where to sign in, its URL an output,
 * and no cdk-nag finding left unexplained. A stand-in site (consoleSiteStandIn) keeps the test free of
 * bundling.
 */
import { Match } from 'aws-cdk-lib/assertions';
import { configFrom, consoleSiteStandIn, neurocaasBlueprint, synthesize } from '../support/synth';

const SITE = consoleSiteStandIn();

describe('with sign-in on (the default)', () => {
  const { template, nagFindings } = synthesize(configFrom(neurocaasBlueprint()), { consoleSiteDir: SITE });

  test('the site bucket is private, TLS only, and readable by this distribution alone', () => {
    const sites = template.findResources('AWS::S3::Bucket', {
      Properties: { LoggingConfiguration: { LogFilePrefix: 'console-site/' } },
    });
    expect(Object.keys(sites)).toHaveLength(1);
    const [siteId] = Object.keys(sites);
    template.hasResourceProperties('AWS::S3::Bucket', {
      LoggingConfiguration: { LogFilePrefix: 'console-site/' },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
    });
    template.hasResourceProperties('AWS::CloudFront::OriginAccessControl', {
      OriginAccessControlConfig: { OriginAccessControlOriginType: 's3', SigningBehavior: 'always' },
    });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: siteId },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'cloudfront.amazonaws.com' },
            Action: 's3:GetObject',
            Condition: { StringEquals: { 'AWS:SourceArn': Match.anyValue() } },
          }),
        ]),
      },
    });
  });

  test('HTTPS only, index.html at the root, a strict CSP with no inline script and no framing', () => {
    template.hasResourceProperties('AWS::CloudFront::Distribution', {
      DistributionConfig: Match.objectLike({
        DefaultRootObject: 'index.html',
        DefaultCacheBehavior: Match.objectLike({
          ViewerProtocolPolicy: 'redirect-to-https',
          AllowedMethods: ['GET', 'HEAD'],
        }),
      }),
    });
    const policies = Object.values(template.findResources('AWS::CloudFront::ResponseHeadersPolicy')) as {
      Properties: {
        ResponseHeadersPolicyConfig: { SecurityHeadersConfig: Record<string, Record<string, unknown>> };
      };
    }[];
    expect(policies).toHaveLength(1);
    const security = policies[0].Properties.ResponseHeadersPolicyConfig.SecurityHeadersConfig;
    const csp = String(security.ContentSecurityPolicy.ContentSecurityPolicy);
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval/);
    expect(security.FrameOptions).toMatchObject({ FrameOption: 'DENY' });
    expect(security.StrictTransportSecurity).toMatchObject({ AccessControlMaxAgeSec: 31536000 });
    expect(security.ContentTypeOptions).toMatchObject({ Override: true });
  });

  test("the data bucket's CORS: the console's origin only, the methods it uses, ETag exposed", () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      CorsConfiguration: {
        CorsRules: [
          {
            AllowedOrigins: [
              {
                'Fn::Join': [
                  '',
                  ['https://', { 'Fn::GetAtt': [Match.stringLikeRegexp('Distribution'), 'DomainName'] }],
                ],
              },
            ],
            AllowedMethods: ['GET', 'HEAD', 'PUT', 'POST', 'DELETE'],
            ExposedHeaders: ['ETag', 'x-amz-version-id'],
          },
        ],
      },
    });
  });

  test('the console is told the pools and each group role, the page narrows connections to this bucket, the URL is an output', () => {
    const deployments = Object.values(template.findResources('Custom::CDKBucketDeployment')) as {
      Properties: { SourceMarkers?: unknown[]; Prune: boolean; RetainOnDelete: boolean };
    }[];
    expect(deployments).toHaveLength(1);
    const markers = JSON.stringify(deployments[0].Properties.SourceMarkers);
    // The tokens written into config.json and index.html at deploy: the bucket, the pools, the client.
    for (const ref of ['DataBucket', 'SignInUsers', 'SignInUsersClient', 'SignInIdentities'])
      expect(markers).toMatch(new RegExp(`"Ref":"${ref}[A-Za-z]*[0-9A-F]{8}"`));
    expect(deployments[0].Properties.Prune).toBe(true);
    expect(deployments[0].Properties.RetainOnDelete).toBe(false);
    template.hasOutput('ConsoleUrl', {
      Value: { 'Fn::Join': ['', ['https://', { 'Fn::GetAtt': [Match.anyValue(), 'DomainName'] }, '/']] },
    });
  });

  test('cdk-nag: every finding explained', () => {
    expect(nagFindings).toEqual([]);
  });
});

test('sign-in off: no console (there would be no way to act for a group)', () => {
  const { template } = synthesize(configFrom(neurocaasBlueprint({ SignIn: { Enabled: false } })), {
    consoleSiteDir: SITE,
  });
  template.resourceCountIs('AWS::CloudFront::Distribution', 0);
  expect(template.findOutputs('ConsoleUrl')).toEqual({});
});
