/**
 * The web console, deployed: the built files (web/build.ts) in a private bucket behind CloudFront
 * (origin access control, HTTPS only, the security headers of lib/console/console-headers.ts), and
 * the data bucket's CORS letting only the console's origin use only the methods it uses
 * (lib/console/console-cors.ts). Nothing bills while idle beyond a few hundred KB of S3 storage:
 * CloudFront charges per request, the deployment's function runs only at deploy.
 *
 * The Content-Security-Policy names the data bucket, and the bucket's CORS names the distribution: set
 * both on CloudFront and the bucket and each would wait for the other. So CloudFront's header allows
 * connections to AWS endpoints only, and the page's own policy (a meta element written into
 * index.html at deploy) narrows them to this bucket and Cognito; a browser enforces both.
 */
import { Annotations, CfnOutput, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as origins from 'aws-cdk-lib/aws-cloudfront-origins';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3deploy from 'aws-cdk-lib/aws-s3-deployment';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { AnalysisConfig } from '../blueprint/analysis-config';
import { consoleAnalysis, type ConsoleConfig } from '../console/console-config';
import { CONSOLE_CORS } from '../console/console-cors';
import { contentSecurityPolicy } from '../console/console-headers';
import { memberRoleName } from '../member-identity';
import type { SignIn } from './sign-in';

export interface ConsoleSiteProps {
  readonly config: AnalysisConfig;
  /** The built console (web/build.ts): index.html, app.js, app.css, chunks/. */
  readonly siteDir: string;
  readonly dataBucket: s3.IBucket;
  readonly logBucket: s3.IBucket;
  readonly signIn: SignIn;
}

export class ConsoleSite extends Construct {
  readonly siteBucket: s3.Bucket;
  readonly distribution: cloudfront.Distribution;
  /** `https://<id>.cloudfront.net/` */
  readonly url: string;

  constructor(scope: Construct, id: string, props: ConsoleSiteProps) {
    super(scope, id);
    const { config, dataBucket, signIn } = props;
    const region = Stack.of(this).region;
    const indexFile = path.join(props.siteDir, 'index.html');
    if (!fs.existsSync(indexFile)) {
      throw new Error(`the web console is not built in ${props.siteDir}: run npm run build:web`);
    }

    this.siteBucket = new s3.Bucket(this, 'Site', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      // Only built files, put back by every deploy: nothing to keep when the stack goes.
      removalPolicy: RemovalPolicy.DESTROY,
      serverAccessLogsBucket: props.logBucket,
      serverAccessLogsPrefix: 'console-site/',
    });

    const headers = new cloudfront.ResponseHeadersPolicy(this, 'Headers', {
      comment: `ncaas ${config.name} console: strict CSP and security headers`,
      securityHeadersBehavior: {
        contentSecurityPolicy: {
          contentSecurityPolicy: contentSecurityPolicy({ connectSrc: ['https://*.amazonaws.com'] }),
          override: true,
        },
        strictTransportSecurity: {
          accessControlMaxAge: Duration.days(365),
          includeSubdomains: true,
          override: true,
        },
        contentTypeOptions: { override: true },
        frameOptions: { frameOption: cloudfront.HeadersFrameOption.DENY, override: true },
        referrerPolicy: { referrerPolicy: cloudfront.HeadersReferrerPolicy.NO_REFERRER, override: true },
      },
    });
    this.distribution = new cloudfront.Distribution(this, 'Distribution', {
      comment: `ncaas ${config.name} web console`,
      defaultRootObject: 'index.html',
      priceClass: cloudfront.PriceClass.PRICE_CLASS_100,
      httpVersion: cloudfront.HttpVersion.HTTP2_AND_3,
      defaultBehavior: {
        origin: origins.S3BucketOrigin.withOriginAccessControl(this.siteBucket),
        viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        allowedMethods: cloudfront.AllowedMethods.ALLOW_GET_HEAD,
        cachePolicy: cloudfront.CachePolicy.CACHING_OPTIMIZED,
        responseHeadersPolicy: headers,
        compress: true,
      },
    });
    const origin = `https://${this.distribution.distributionDomainName}`;
    this.url = `${origin}/`;

    // The data bucket: only the console's origin, only the methods it uses.
    if (dataBucket instanceof s3.Bucket) {
      dataBucket.addCorsRule({
        allowedOrigins: [origin],
        allowedMethods: CONSOLE_CORS.allowedMethods.map((m) => s3.HttpMethods[m]),
        allowedHeaders: CONSOLE_CORS.allowedHeaders,
        exposedHeaders: CONSOLE_CORS.exposedHeaders,
        maxAge: CONSOLE_CORS.maxAgeSeconds,
      });
    } else {
      Annotations.of(this).addWarningV2(
        'ncaas:console-cors',
        `the adopted bucket gets no CORS rule from this stack: for the web console, allow the origin ${origin} (methods ${CONSOLE_CORS.allowedMethods.join(', ')}, expose ETag) on it by hand`,
      );
    }

    // The page's own policy: connections to this bucket's endpoints and Cognito's, nothing else.
    const pagePolicy = contentSecurityPolicy({
      connectSrc: [
        `https://${dataBucket.bucketName}.s3.${region}.amazonaws.com`,
        `https://${dataBucket.bucketName}.s3.amazonaws.com`,
        `https://cognito-idp.${region}.amazonaws.com`,
        `https://cognito-identity.${region}.amazonaws.com`,
      ],
    }).replace(/; frame-ancestors 'none'/, ''); // not allowed in a meta policy: the header says it
    const indexHtml = fs
      .readFileSync(indexFile, 'utf8')
      .replace(
        '<meta charset="utf-8" />',
        `<meta charset="utf-8" />\n    <meta http-equiv="Content-Security-Policy" content="${pagePolicy}" />`,
      );
    const consoleConfig: ConsoleConfig = {
      analysis: consoleAnalysis(config),
      bucket: dataBucket.bucketName,
      signIn: {
        userPoolId: signIn.userPool.userPoolId,
        clientId: signIn.client.userPoolClientId,
        identityPoolId: signIn.identityPool.ref,
        memberRoles: Object.fromEntries(
          config.groups.map((g) => [g.name, memberRoleName(config.name, config.region, g.name)]),
        ),
      },
    };
    new s3deploy.BucketDeployment(this, 'Files', {
      sources: [
        s3deploy.Source.asset(props.siteDir, { exclude: ['index.html', 'config.json'] }),
        s3deploy.Source.data('index.html', indexHtml),
        s3deploy.Source.jsonData('config.json', consoleConfig),
      ],
      destinationBucket: this.siteBucket,
      distribution: this.distribution,
      distributionPaths: ['/index.html', '/config.json'],
      prune: true,
      retainOnDelete: false,
      memoryLimit: 256,
    });

    // The deployment's function is CDK's own singleton, a child of the stack: it runs only at deploy.
    const deployer = Stack.of(this).node.children.find((c) =>
      c.node.id.startsWith('Custom::CDKBucketDeployment'),
    );
    if (deployer !== undefined) {
      NagSuppressions.addResourceSuppressions(
        deployer,
        [
          {
            id: 'AwsSolutions-L1',
            reason:
              "CDK's BucketDeployment function, whose runtime the CDK version pins; it runs only during a deploy.",
          },
          {
            id: 'AwsSolutions-IAM4',
            reason: 'AWSLambdaBasicExecutionRole only lets the deploy-time function write its own logs.',
            appliesTo: [
              'Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole',
            ],
          },
          {
            id: 'AwsSolutions-IAM5',
            reason:
              "CDK's grants for copying the built files: read the CDK asset objects, write and prune the console's own site bucket (its objects only), invalidate this distribution's cache (CloudFront invalidations take no resource ARN).",
          },
        ],
        true,
      );
    }

    new CfnOutput(Stack.of(this), 'ConsoleUrl', {
      value: this.url,
      description: 'The web console: lab members sign in here with the email they were invited with',
    });

    NagSuppressions.addResourceSuppressions(this.distribution, [
      {
        id: 'AwsSolutions-CFR1',
        reason:
          'Lab members work from anywhere; the site is static files and every data request is signed by the group role.',
      },
      {
        id: 'AwsSolutions-CFR2',
        reason:
          'A web ACL bills every month while idle; the site serves static files only, and S3 authorizes every data request.',
      },
      {
        id: 'AwsSolutions-CFR3',
        reason: "Static files only; who reads or writes data is in the data bucket's server access logs.",
      },
      {
        id: 'AwsSolutions-CFR4',
        reason:
          'The default *.cloudfront.net certificate sets the TLS policy; a custom domain (not in the blueprint) would allow TLSv1.2_2021.',
      },
    ]);
  }
}
