"""The storage tests' hands on the S3 server (test/helpers/s3-server.ts), through boto3 from moto's venv.

    s3_admin.py ENDPOINT init BUCKET       an IAM user with an access key, then BUCKET made with
                                           it; prints {"access_key_id", "secret_access_key"}
    s3_admin.py ENDPOINT put BUCKET KEY FILE
    s3_admin.py ENDPOINT list BUCKET PREFIX  {"keys": {key: size}, "uploads": [pending multipart keys]}
    s3_admin.py ENDPOINT get BUCKET KEY      the object's bytes on stdout

Every command but `init` signs with the key in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY. The server
runs with authentication on after its first actions (INITIAL_NO_AUTH_ACTION_COUNT), so `init`'s IAM
calls are the only unsigned ones.
"""

import json
import os
import sys

import boto3

POLICY = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}'


def client(endpoint, service, key_id, secret):
    return boto3.client(service, endpoint_url=endpoint, region_name='us-east-1', aws_access_key_id=key_id, aws_secret_access_key=secret)


def main(argv):
    endpoint, cmd, args = argv[0], argv[1], argv[2:]
    if cmd == 'init':
        iam = client(endpoint, 'iam', 'bootstrap', 'bootstrap')
        iam.create_user(UserName='sparkinfer-test')
        iam.put_user_policy(UserName='sparkinfer-test', PolicyName='all', PolicyDocument=POLICY)
        k = iam.create_access_key(UserName='sparkinfer-test')['AccessKey']
        client(endpoint, 's3', k['AccessKeyId'], k['SecretAccessKey']).create_bucket(Bucket=args[0])
        print(json.dumps({'access_key_id': k['AccessKeyId'], 'secret_access_key': k['SecretAccessKey']}))
        return
    s3 = client(endpoint, 's3', os.environ['AWS_ACCESS_KEY_ID'], os.environ['AWS_SECRET_ACCESS_KEY'])
    if cmd == 'put':
        bucket, key, path = args
        with open(path, 'rb') as f:
            s3.put_object(Bucket=bucket, Key=key, Body=f.read())
    elif cmd == 'list':
        bucket, prefix = args
        keys = {}
        for page in s3.get_paginator('list_objects_v2').paginate(Bucket=bucket, Prefix=prefix):
            for o in page.get('Contents', []):
                keys[o['Key']] = o['Size']
        uploads = [u['Key'] for u in s3.list_multipart_uploads(Bucket=bucket, Prefix=prefix).get('Uploads', [])]
        print(json.dumps({'keys': keys, 'uploads': uploads}))
    elif cmd == 'get':
        bucket, key = args
        sys.stdout.buffer.write(s3.get_object(Bucket=bucket, Key=key)['Body'].read())
    else:
        sys.exit(f'unknown command {cmd}')


if __name__ == '__main__':
    main(sys.argv[1:])
