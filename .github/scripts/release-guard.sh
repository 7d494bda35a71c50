#!/usr/bin/env bash
# Decide whether this pipeline may deploy its app's image to an environment:
# only when the commit is the one deployed or a descendant of it, so a slow
# pipeline of an older commit never rolls its app back. The other app is never
# at stake: deploy.yml moves only the apps it is given (the release manifest).
#   release-guard.sh ENVIRONMENT APP SHA
# Prints deploy=true|false for $GITHUB_OUTPUT. Needs: aws CLI with
# ssm:GetParameter on /bookstore/ENVIRONMENT/release, jq, and the commit's
# history (checkout with fetch-depth: 0).
set -euo pipefail
environment=$1 app=$2 sha=$3

release=$(aws ssm get-parameter --name "/bookstore/$environment/release" \
  --query Parameter.Value --output text 2>/dev/null || true)
deployed=$(jq -r --arg app "$app" '.[$app] // empty' <<<"${release:-"{}"}")

if [ -z "$deployed" ]; then
  echo "no $app release recorded in $environment: deploying $sha" >&2
  echo "deploy=true"
elif [ "$deployed" = "$sha" ] || git merge-base --is-ancestor "$deployed" "$sha" 2>/dev/null; then
  echo "$environment runs $app $deployed, an ancestor of $sha: deploying" >&2
  echo "deploy=true"
else
  echo "::notice::$environment already runs $app $deployed, which $sha does not descend from: not deploying" >&2
  echo "deploy=false"
fi
