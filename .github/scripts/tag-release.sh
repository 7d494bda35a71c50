#!/usr/bin/env bash
# Make sure REPOSITORY:SHA exists in ECR, so that one tag names a whole release.
#   tag-release.sh REPOSITORY SHA OTHER_WORKFLOW
# The deploy playbook runs the api and web images of one tag (app_deploy_image_tag),
# while each pipeline builds only its own app's image. When this commit did not
# change the other app, its newest image among this commit's ancestors gets the
# release's tag too (same digest: nothing is rebuilt, and the other app's
# containers are left as they run). When the other app's pipeline is building this
# very commit, wait for its image instead.
# Needs: aws CLI with ecr:DescribeImages/BatchGetImage/PutImage, gh with actions:read,
# and the history of the commit (checkout with fetch-depth: 0).
set -euo pipefail
repository=$1 sha=$2 other_workflow=$3
wait_minutes=${TAG_RELEASE_WAIT_MINUTES:-40}

has_tag() {
  aws ecr describe-images --repository-name "$repository" --image-ids imageTag="$1" >/dev/null 2>&1
}

if has_tag "$sha"; then
  echo "$repository:$sha exists"
  exit 0
fi

run_id=$(gh run list --workflow "$other_workflow" --commit "$sha" --event push \
  --json databaseId --jq '.[0].databaseId // empty')
if [ -n "$run_id" ]; then
  echo "$other_workflow run $run_id builds this commit; waiting for $repository:$sha"
  for _ in $(seq $((wait_minutes * 3))); do
    has_tag "$sha" && { echo "$repository:$sha exists"; exit 0; }
    # Only its image job matters: waiting for the whole run would wait for this deploy.
    state=$(gh run view "$run_id" --json status,jobs \
      --jq '[.status, ([.jobs[] | select(.name | test("image")) | .status] | join(","))] | join(" ")')
    case "$state" in
      completed*|*" completed") has_tag "$sha" && exit 0
        echo "::error::$other_workflow run $run_id finished without publishing $repository:$sha" >&2
        exit 1 ;;
    esac
    sleep 20
  done
  echo "::error::timed out waiting for $repository:$sha" >&2
  exit 1
fi

tags=$(aws ecr describe-images --repository-name "$repository" --filter tagStatus=TAGGED \
  --query 'imageDetails[].imageTags[]' --output text | tr '\t' '\n')
for commit in $(git rev-list --max-count=2000 "$sha"); do
  if grep -qx "$commit" <<<"$tags"; then
    manifest=$(aws ecr batch-get-image --repository-name "$repository" --image-ids imageTag="$commit" \
      --query 'images[0].imageManifest' --output text)
    media_type=$(aws ecr batch-get-image --repository-name "$repository" --image-ids imageTag="$commit" \
      --query 'images[0].imageManifestMediaType' --output text)
    aws ecr put-image --repository-name "$repository" --image-tag "$sha" \
      --image-manifest "$manifest" --image-manifest-media-type "$media_type" >/dev/null
    echo "$repository:$sha now names the image of $commit"
    exit 0
  fi
done
echo "::error::no image of $repository for $sha or any of its ancestors" >&2
exit 1
